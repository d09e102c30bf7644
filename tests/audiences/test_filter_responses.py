"""The filter language's contact, response and product conditions, on both databases, at their edges."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.audiences.filters import compile_filter, parse
from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.contract import LineItemRecord
from integration.ingest import ingest_customers, ingest_events, ingest_orders
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import CampaignChannel, Contact, InteractionType, SendStatus
from integration.store.types import utcnow
from tests.support.builders import bearer, customer, event, make_store, order
from tests.support.builders import item as line

NOW = utcnow().replace(microsecond=0)
DAY = timedelta(days=1)


def ago(days: float) -> Any:
    return NOW - days * DAY


@pytest.fixture
def respondents(settings: Settings) -> dict[str, Any]:
    """ann, bob, cy and dee: sends, opens, clicks, scans and orders at known times before NOW."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        emails = ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]
        ingest_customers(session, store, [customer(str(n), e) for n, e in enumerate(emails)])
        ids = {
            e.split("@")[0]: i
            for e, i in session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails)))
        }
        email = save_campaign(session, store.account_id, channel=CampaignChannel.EMAIL, name="Spring")
        letter = save_campaign(session, store.account_id, channel=CampaignChannel.LETTER, name="Catalogue")
        record_sends(
            session,
            store.account_id,
            email.id,
            [
                SendInput(SendStatus.DELIVERED, ids["ann"], sent_at=ago(3), delivered_at=ago(3)),
                SendInput(SendStatus.QUEUED, ids["cy"], queued_at=ago(1)),  # not out yet: not contacted
            ],
        )
        record_sends(
            session,
            store.account_id,
            letter.id,
            [
                # Sent exactly 14 days before NOW: inside "within 14 days" (the bound is inclusive).
                SendInput(SendStatus.SENT, ids["bob"], sent_at=ago(14)),
                SendInput(SendStatus.FAILED, ids["cy"], failed_at=ago(2)),
            ],
        )
        ingest_events(
            session,
            store,
            [
                event(InteractionType.EMAIL_OPEN, ago(2), email="ann@example.com", event_id="e1"),
                event(InteractionType.EMAIL_CLICK, ago(40), email="ann@example.com", event_id="e2"),
                # A mail client fetched the images for bob: no person opened anything.
                event(
                    InteractionType.EMAIL_OPEN,
                    ago(1),
                    email="bob@example.com",
                    machine_open=True,
                    event_id="e3",
                ),
                event(InteractionType.QR_SCAN, ago(7), email="bob@example.com", event_id="e4"),
            ],
            source="api",
        )
        ingest_orders(
            session,
            store,
            [
                order(
                    "o1",
                    ago(2),
                    customer_id="0",
                    line_items=[line(product="p1"), line("Belt", product="p2")],
                ),
                order("o2", ago(100), customer_id="1", line_items=[_sku("SKU-2")]),
                # Cancelled: bob did not buy p1 after all.
                order("o3", ago(1), customer_id="1", cancelled_at=ago(1), line_items=[line(product="p1")]),
                order("o4", ago(1), customer_id="3", financial_status="voided", line_items=[_sku("SKU-2")]),
            ],
        )
        return {"account": store.account_id, "ids": ids, "headers": bearer(session, store.account_id)}


def _sku(sku: str) -> LineItemRecord:
    return LineItemRecord(title="Scarf", quantity=1, unit_price=Decimal("12.00"), product_id="p9", sku=sku)


def _who(settings: Settings, respondents: dict[str, Any], raw: Any) -> set[str]:
    names = {i: n for n, i in respondents["ids"].items()}
    with session_scope(settings.database_url) as session:
        condition = compile_filter(session, parse(raw), NOW)
        rows = session.scalars(
            select(Contact.id).where(Contact.account_id == respondents["account"], condition)
        )
        return {names[i] for i in rows}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"contacted_within_days": 14}, {"ann", "bob"}),
        ({"contacted_within_days": 13}, {"ann"}),
        ({"contacted_within_days": 2}, set()),
        ({"not_contacted_within_days": 13}, {"bob", "cy", "dee"}),  # cy's send never went out
        ({"not_contacted_within_days": 14}, {"cy", "dee"}),
        ({"opened_within_days": 7}, {"ann"}),  # bob's open was his mail client's
        ({"opened_within_days": 1}, set()),
        ({"clicked_within_days": 30}, set()),
        ({"clicked_within_days": 40}, {"ann"}),
        ({"scanned_within_days": 7}, {"bob"}),
        ({"scanned_within_days": 6}, set()),
        ({"any": [{"opened_within_days": 7}, {"scanned_within_days": 7}]}, {"ann", "bob"}),
        ({"bought_product": {"product_id": "p1"}}, {"ann"}),  # bob's order of p1 was cancelled
        ({"bought_product": {"product_id": "p1", "within_days": 2}}, {"ann"}),
        ({"bought_product": {"product_id": "p1", "within_days": 1}}, set()),
        ({"bought_product": {"product_id": "p2", "within_days": None}}, {"ann"}),
        ({"bought_product": {"sku": "SKU-2"}}, {"bob"}),  # dee's order was voided
        ({"bought_product": {"sku": "SKU-2", "within_days": 99}}, set()),
        ({"bought_product": {"sku": "p1"}}, set()),  # a SKU is not a product id
        (
            {
                "all": [
                    {"bought_product": {"product_id": "p1"}},
                    {"not": {"bought_product": {"product_id": "p9"}}},
                ]
            },
            {"ann"},
        ),
    ],
)
def test_each_condition_selects_the_right_contacts(
    settings: Settings, respondents: dict[str, Any], raw: Any, expected: set[str]
) -> None:
    assert _who(settings, respondents, raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"bought_product": {"product_id": "p1", "sku": "SKU-2"}},
        {"bought_product": {}},
        {"bought_product": {"within_days": 3}},
        {"bought_product": {"product_id": ""}},
        {"bought_product": {"product_id": "p1", "within_days": -1}},
        {"bought_product": {"product_id": "p1", "colour": "red"}},
        {"contacted_within_days": 1.5},
        {"opened_within_days": "7"},
        {"scanned_within_days": 3651},
        {"orders_count": {"min": 1.5}},
        {"total_spent": {"currency": "EUR", "min": "1e14"}},
    ],
)
def test_an_invalid_condition_is_refused_through_the_api(
    client: FlaskClient, respondents: dict[str, Any], raw: Any
) -> None:
    answer = client.post("/api/v1/segments/preview", json={"filter": raw}, headers=respondents["headers"])
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "invalid_filter"


def test_the_receptive_audience_through_the_list_and_a_segment(
    client: FlaskClient, respondents: dict[str, Any]
) -> None:
    receptive = {
        "all": [
            {"any": [{"opened_within_days": 30}, {"clicked_within_days": 30}, {"scanned_within_days": 30}]},
            {"not_contacted_within_days": 10},
        ]
    }
    listed = client.get(
        "/api/v1/contacts", query_string={"filter": json.dumps(receptive)}, headers=respondents["headers"]
    )
    assert [c["email"] for c in listed.get_json()["contacts"]] == ["bob@example.com"]
    saved = client.post(
        "/api/v1/segments", json={"name": "Receptive", "filter": receptive}, headers=respondents["headers"]
    )
    assert saved.status_code == 201
    assert saved.get_json()["members"] == 1
    assert saved.get_json()["filter"] == receptive


def test_a_filter_as_deep_as_allowed_works_in_the_list_as_in_a_segment(
    client: FlaskClient, respondents: dict[str, Any]
) -> None:
    deepest: dict[str, Any] = {"opened_within_days": 7}
    for _ in range(8):
        deepest = {"not": deepest}
    preview = client.post(
        "/api/v1/segments/preview", json={"filter": deepest}, headers=respondents["headers"]
    )
    assert preview.status_code == 200
    listed = client.get(
        "/api/v1/contacts", query_string={"filter": json.dumps(deepest)}, headers=respondents["headers"]
    )
    assert listed.status_code == 200
    assert [c["email"] for c in listed.get_json()["contacts"]] == ["ann@example.com"]  # eight nots: as is
    deeper = {"not": deepest}
    assert (
        client.post(
            "/api/v1/segments/preview", json={"filter": deeper}, headers=respondents["headers"]
        ).status_code
        == 422
    )
