"""Saved segments: preview, save, edit with the entries and exits logged, predefined ones, refresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest
from integration.contacts.engagement import classify
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Contact, SubscriptionStatus
from integration.store.types import utcnow
from jobs.compute import refresh_segments_job
from tests.support.builders import customer, order, store_of


@pytest.fixture(autouse=True)
def segment_contacts(settings: Settings, api_shop: dict[str, Any]) -> None:
    """ann (vip, a buyer) and bob subscribed, cy not."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = store_of(session, api_shop)
        subscribed = {"subscription_status": SubscriptionStatus.SUBSCRIBED}
        ingest.ingest_customers(
            session,
            store,
            [
                customer("1", "ann@example.com", now - timedelta(days=1), tags=["vip"], **subscribed),
                customer("2", "bob@example.com", now - timedelta(days=1), **subscribed),
                customer("3", "cy@example.com", now - timedelta(days=1)),
            ],
        )
        ingest.ingest_orders(session, store, [order("o1", now - timedelta(days=2), email="ann@example.com")])
        classify(session, store.account_id)


def test_preview_save_edit_and_the_log_of_who_entered_and_left(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    headers = api_shop["headers"]
    vip = {"tag": "vip"}
    preview = client.post("/api/v1/segments/preview", json={"filter": vip}, headers=headers).get_json()
    assert preview["count"] == 1
    assert [c["email"] for c in preview["contacts"]] == ["ann@example.com"]

    created = client.post("/api/v1/segments", json={"name": "VIPs", "filter": vip}, headers=headers)
    assert created.status_code == 201
    segment = created.get_json()
    assert segment["members"] == 1
    assert (
        client.post("/api/v1/segments", json={"name": "VIPs", "filter": vip}, headers=headers).status_code
        == 409
    )
    bad = client.post("/api/v1/segments", json={"name": "x", "filter": {"tag": ""}}, headers=headers)
    assert bad.status_code == 422

    subscribers = {"subscription": ["subscribed"]}
    edited = client.put(
        f"/api/v1/segments/{segment['id']}",
        json={"name": "Subscribers", "filter": subscribers},
        headers=headers,
    )
    assert edited.status_code == 200
    assert edited.get_json()["members"] == 2
    detail = client.get(f"/api/v1/segments/{segment['id']}", headers=headers).get_json()
    changes = [(c["change"], c["reason"]) for c in detail["changes"]]
    assert changes.count(("entered", "edited")) == 1  # bob entered by the edit; ann stayed
    assert [p["members"] for p in detail["sizes"]] == [1, 2]
    members = client.get(f"/api/v1/segments/{segment['id']}/members", headers=headers).get_json()
    assert {c["email"] for c in members["contacts"]} == {"ann@example.com", "bob@example.com"}

    # Bob unsubscribes: the next refresh logs him leaving because the data changed.
    with session_scope(settings.database_url) as session:
        session.scalars(
            select(Contact).where(Contact.email == "bob@example.com")
        ).one().subscription_status = SubscriptionStatus.UNSUBSCRIBED
    refresh_segments_job()
    detail = client.get(f"/api/v1/segments/{segment['id']}", headers=headers).get_json()
    assert detail["members"] == 1
    assert detail["changes"][0]["change"] == "left"
    assert detail["changes"][0]["reason"] == "data"
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/segments/{segment['id']}", headers=headers).status_code == 404


def test_predefined_segments_come_with_the_account_and_cannot_be_changed(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    headers = api_shop["headers"]
    listed = client.get("/api/v1/segments", headers=headers).get_json()["segments"]
    keys = {s["key"] for s in listed if s["predefined"]}
    assert {
        "engaged_subscribed",
        "unengaged",
        "blocked",
        "sunset",
        "rfm:Champions",
        "rfm:Prospects",
        "tier:big",
        "frequent",
    } <= keys
    sunset = next(s for s in listed if s["key"] == "sunset")
    assert sunset["filter"]["all"][2] == {"not_interacted_within_days": 360}  # 180 + 180
    assert client.put("/api/v1/settings", json={"sunset_days": 30}, headers=headers).status_code == 200
    listed = client.get("/api/v1/segments", headers=headers).get_json()["segments"]
    sunset = next(s for s in listed if s["key"] == "sunset")
    assert sunset["filter"]["all"][2] == {"not_interacted_within_days": 210}
    assert client.delete(f"/api/v1/segments/{sunset['id']}", headers=headers).status_code == 409
    edit = client.put(
        f"/api/v1/segments/{sunset['id']}", json={"name": "x", "filter": {"tag": "a"}}, headers=headers
    )
    assert edit.status_code == 409

    refresh_segments_job()
    listed = {s["key"]: s for s in client.get("/api/v1/segments", headers=headers).get_json()["segments"]}
    assert listed["engaged_subscribed"]["members"] == 1  # ann: subscribed, ordered two days ago
