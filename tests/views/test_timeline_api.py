"""GET /api/v1/contacts/<id>/timeline: a contact's activity, newest first, in keyset pages."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from integration.contacts.timeline import KINDS
from integration.settings import Settings
from integration.store import session_scope
from tests.support.activity import record_everything, shop
from tests.support.builders import bearer


@pytest.fixture
def recorded(settings: Settings) -> dict[str, Any]:
    """A contact with every kind of activity, another account's contact, and a key of each account."""
    with session_scope(settings.database_url) as session:
        here = shop(session)
        record_everything(session, here, here.contact_id)
        elsewhere = shop(session, "Other shop")
        record_everything(session, elsewhere, elsewhere.contact_id)
        return {
            "contact": here.contact_id,
            "other": elsewhere.contact_id,
            "headers": bearer(session, here.account_id),
        }


def test_the_timeline_lists_every_kind_newest_first(client: FlaskClient, recorded: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/contacts/{recorded['contact']}/timeline", headers=recorded["headers"])
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["next_cursor"] is None
    assert sorted(e["kind"] for e in body["entries"]) == sorted(KINDS)
    assert [e["at"] for e in body["entries"]] == sorted((e["at"] for e in body["entries"]), reverse=True)
    changed = next(e for e in body["entries"] if e["kind"] == "engagement_changed")
    assert (changed["from"], changed["to"], changed["reason"]) == ("unengaged", "engaged", "email_open")
    placed = next(e for e in body["entries"] if e["kind"] == "order_placed")
    assert (placed["amount"], placed["currency"]) == ("59.80", "EUR")
    assert placed["at"] == "2026-11-02T09:00:00+00:00"


def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: FlaskClient, recorded: dict[str, Any]
) -> None:
    url = f"/api/v1/contacts/{recorded['contact']}/timeline"
    whole = client.get(url, headers=recorded["headers"]).get_json()["entries"]
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = client.get(
            f"{url}?limit=4&cursor={cursor}" if cursor else f"{url}?limit=4", headers=recorded["headers"]
        )
        page = body.get_json()
        assert len(page["entries"]) <= 4
        seen += page["entries"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == whole


def test_another_accounts_contact_is_not_found(client: FlaskClient, recorded: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/contacts/{recorded['other']}/timeline", headers=recorded["headers"])
    assert (answer.status_code, answer.get_json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyIyMDI2LTExLTAyVDA5OjAwOjAwKzAwOjAwIiwgNV0"])
def test_a_bad_cursor_is_refused_with_its_reason(
    client: FlaskClient, recorded: dict[str, Any], cursor: str
) -> None:
    answer = client.get(
        f"/api/v1/contacts/{recorded['contact']}/timeline?cursor={cursor}", headers=recorded["headers"]
    )
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "invalid_cursor"
    assert "cursor" in answer.get_json()["message"]


@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_a_page_size_out_of_range_is_refused(
    client: FlaskClient, recorded: dict[str, Any], limit: str
) -> None:
    answer = client.get(
        f"/api/v1/contacts/{recorded['contact']}/timeline?limit={limit}", headers=recorded["headers"]
    )
    assert answer.status_code == 422
    assert "limit" in answer.get_json()["details"]["query"]


def test_the_timeline_needs_a_key(client: FlaskClient, recorded: dict[str, Any]) -> None:
    assert client.get(f"/api/v1/contacts/{recorded['contact']}/timeline").status_code == 401
