"""Account settings: read, change, and a new time frame reclassifies everyone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.contacts.engagement import classify
from integration.ingest import ingest_events
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, EngagementStatus, InteractionType
from integration.store.types import utcnow
from tests.support.builders import bearer, event, make_store


@pytest.fixture
def account(settings: Settings) -> dict[str, Any]:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [event(InteractionType.EMAIL_CLICK, at=utcnow() - timedelta(days=60), email="a@example.com")],
            source="api",
        )
        classify(session, store.account_id)
        return {"headers": bearer(session, store.account_id)}


def test_settings_have_their_defaults(client: FlaskClient, account: dict[str, Any]) -> None:
    got = client.get("/api/v1/settings", headers=account["headers"]).get_json()
    assert got == {
        "time_zone": "Europe/Prague",
        "engagement_window_days": 180,
        "abandonment_delay_minutes": 10,
        "recovery_window_days": 7,
        "attribution_window_days": 30,
        "frequency_cap_days": 14,
        "sunset_days": 180,
    }


def test_a_new_time_frame_reclassifies_every_contact(
    client: FlaskClient, account: dict[str, Any], settings: Settings, run_worker: Any
) -> None:
    answer = client.put("/api/v1/settings", json={"engagement_window_days": 30}, headers=account["headers"])
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["engagement_window_days"] == 30
    assert body["reclassification_job"]
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Contact.engagement_status)) == EngagementStatus.UNENGAGED
    unchanged = client.put(
        "/api/v1/settings", json={"frequency_cap_days": 7}, headers=account["headers"]
    ).get_json()
    assert (unchanged["frequency_cap_days"], unchanged["reclassification_job"]) == (7, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engagement_window_days": 6}, "engagement_window_days"),
        ({"engagement_window_days": 731}, "engagement_window_days"),
        ({"time_zone": "Mars/Base"}, "time_zone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_setting_is_refused_with_its_field(
    client: FlaskClient, account: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    answer = client.put("/api/v1/settings", json=change, headers=account["headers"])
    assert answer.status_code == 422
    assert field in answer.get_json()["details"]["json"]
