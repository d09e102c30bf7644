"""The filter language: validation, each condition on both databases, combinations, and the list."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from integration.audiences.filters import compile_filter, parse
from integration.commerce.carts import mark_abandoned
from integration.contacts.engagement import classify
from integration.contacts.lists import list_contacts
from integration.ingest import ingest_checkouts, ingest_customers, ingest_events, ingest_orders
from integration.store import session_scope
from integration.store.models import Contact, InteractionType, SubscriptionStatus
from integration.store.types import utcnow
from tests.support.builders import bearer, checkout, customer, event, make_store, order

NOW = utcnow()


@pytest.fixture
def people(db_url: str) -> dict[str, int]:
    """Five contacts of one account in two stores, and one of another account."""
    with session_scope(db_url) as session:
        eu = make_store(session, "EUR")
        us = make_store(session, "USD", account_id=eu.account_id)
        ingest_customers(
            session,
            eu,
            [
                customer(
                    "1", "ann@example.com", subscription_status=SubscriptionStatus.SUBSCRIBED, tags=["vip"]
                ),
                customer("2", "bob@example.com", subscription_status=SubscriptionStatus.UNKNOWN),
                customer("3", "cy@example.com", subscription_status=SubscriptionStatus.UNSUBSCRIBED),
            ],
        )
        ingest_customers(session, us, [customer("9", "dee@example.com", tags=["b2b", "vip"])])
        ingest_orders(
            session,
            eu,
            [
                order("o1", created=NOW - timedelta(days=2), customer_id="1", total_price="150.00"),
                order("o2", created=NOW - timedelta(days=40), customer_id="1", total_price="50.00"),
                order("o3", created=NOW - timedelta(days=200), customer_id="2", total_price="20.00"),
                order(
                    "o4",
                    created=NOW - timedelta(days=1),
                    customer_id="3",
                    total_price="999.00",
                    cancelled_at=NOW,
                ),
            ],
        )
        ingest_events(
            session,
            us,
            [event(InteractionType.SPAM_COMPLAINT, at=NOW - timedelta(days=1), email="eve@example.com")],
            source="api",
        )
        ingest_checkouts(
            session, us, [checkout("t1", updated=NOW - timedelta(hours=2), email="dee@example.com")]
        )
        mark_abandoned(session, NOW)
        classify(session, eu.account_id, now=NOW)
        other = make_store(session)
        ingest_customers(session, other, [customer("1", "ann@example.com", tags=["vip"])])
        return {"account": eu.account_id, "eu": eu.id, "us": us.id}


def _emails(db_url: str, account_id: int, raw: Any) -> set[str]:
    with session_scope(db_url) as session:
        condition = compile_filter(session, parse(raw), NOW)
        rows = session.scalars(select(Contact.email).where(Contact.account_id == account_id, condition))
        return set(rows)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"engagement": ["engaged"]}, {"ann@example.com"}),  # bob's only order is 200 days old
        ({"engagement": ["blocked"]}, {"eve@example.com"}),
        (
            {"subscription": ["subscribed", "unknown"]},
            {"ann@example.com", "bob@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"blocked_reason": ["spam_complaint"]}, {"eve@example.com"}),
        ({"interacted_within_days": 30}, {"ann@example.com"}),
        (
            {"not_interacted_within_days": 30},
            {"bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"orders_count": {"min": 2}}, {"ann@example.com"}),
        ({"orders_count": {"max": 0}}, {"cy@example.com", "dee@example.com", "eve@example.com"}),
        # Bounds that admit 0 take in the contacts who never bought; others only buyers.
        (
            {"orders_count": {"min": 0, "max": 1}},
            {"bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"orders_count": {"min": 1, "max": 1}}, {"bob@example.com"}),
        (
            {"total_spent": {"currency": "EUR", "max": "30"}},
            {"bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"total_spent": {"currency": "EUR", "min": "20", "max": "20"}}, {"bob@example.com"}),
        ({"total_spent": {"currency": "EUR", "min": "100", "max": "200"}}, {"ann@example.com"}),
        ({"total_spent": {"currency": "USD", "min": "1"}}, set()),
        # Without a bound, or with bounds around 0, a contact who never paid in the currency matches.
        (
            {"total_spent": {"currency": "EUR"}},
            {"ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        (
            {"total_spent": {"currency": "EUR", "min": "0", "max": "19.99"}},
            {"cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        (
            {"total_spent": {"currency": "EUR", "min": "-5", "max": "0"}},
            {"cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"total_spent": {"currency": "EUR", "max": "-0.01"}}, set()),
        (
            {"not": {"total_spent": {"currency": "EUR", "min": "20.01"}}},
            {"bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"store_id": "us"}, {"dee@example.com"}),
        ({"has_open_abandoned_checkout": True}, {"dee@example.com"}),
        ({"tag": "vip"}, {"ann@example.com", "dee@example.com"}),
        ({"created_within_days": 1}, {"eve@example.com"}),
        ({"all": [{"tag": "vip"}, {"not": {"store_id": "us"}}]}, {"ann@example.com"}),
        ({"any": [{"engagement": ["blocked"]}, {"tag": "b2b"}]}, {"eve@example.com", "dee@example.com"}),
        (
            {"all": []},
            {"ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"},
        ),
        ({"any": []}, set()),
    ],
)
def test_each_condition_selects_the_right_contacts(
    db_url: str, people: dict[str, int], raw: Any, expected: set[str]
) -> None:
    raw = json.loads(json.dumps(raw).replace('"store_id": "us"', f'"store_id": {people["us"]}'))
    assert _emails(db_url, people["account"], raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {},
        [],
        "engaged",
        {"engagement": ["engaged"], "tag": "vip"},
        {"engagement": []},
        {"engagement": ["maybe"]},
        {"colour": "red"},
        {"interacted_within_days": -1},
        {"total_spent": {"min": "10"}},
        {"orders_count": {"min": "NaN"}},
        {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"tag": "x"}}}}}}}}}},
        {"tag": "x'); DROP TABLE contacts; --"} | {"extra": 1},
    ],
)
def test_an_invalid_filter_is_refused(raw: Any) -> None:
    with pytest.raises(ValidationError):
        parse(raw)


def test_a_hostile_tag_is_only_a_value(db_url: str, people: dict[str, int]) -> None:
    assert _emails(db_url, people["account"], {"tag": "x'); DROP TABLE contacts; --"}) == set()
    assert len(_emails(db_url, people["account"], {"all": []})) == 5


def test_pages_follow_the_cursor_without_gaps_or_repeats(db_url: str, people: dict[str, int]) -> None:
    seen: list[str] = []
    cursor = None
    with session_scope(db_url) as session:
        for _ in range(10):
            page = list_contacts(
                session, people["account"], None, sort="-last_interaction_at", limit=2, cursor=cursor, now=NOW
            )
            seen += [c["email"] for c in page["contacts"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen[:2] == ["ann@example.com", "bob@example.com"]  # newest interaction first; none last
    assert sorted(seen) == sorted(
        {"ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"}
    )
    assert len(seen) == 5


def test_the_list_endpoint_shows_why_and_refuses_bad_input(client, settings, people) -> None:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        headers = bearer(session, people["account"])
    body = client.get("/api/v1/contacts?engagement=blocked", headers=headers).get_json()
    [eve] = body["contacts"]
    assert eve["engagement"]["status"] == "blocked"
    assert eve["engagement"]["reason"] == "spam_complaint"
    assert eve["blocked"]["reason"] == "spam_complaint"
    query = json.dumps({"tag": "vip"})
    tagged = client.get(f"/api/v1/contacts?filter={query}&sort=email", headers=headers).get_json()
    assert [c["email"] for c in tagged["contacts"]] == ["ann@example.com", "dee@example.com"]
    assert client.get("/api/v1/contacts?filter={bad", headers=headers).get_json()["code"] == "invalid_filter"
    assert client.get("/api/v1/contacts?engagement=maybe", headers=headers).status_code == 422
    assert (
        client.get("/api/v1/contacts?cursor=nonsense", headers=headers).get_json()["code"] == "invalid_cursor"
    )


def test_a_contact_shows_why_and_is_private_to_its_account(client, settings, people) -> None:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        headers = bearer(session, people["account"])
        ann = session.scalar(
            select(Contact.id).where(
                Contact.email == "ann@example.com", Contact.account_id == people["account"]
            )
        )
        stranger = session.scalar(select(Contact.id).where(Contact.account_id != people["account"]))
    detail = client.get(f"/api/v1/contacts/{ann}", headers=headers).get_json()
    assert detail["engagement"]["status"] == "engaged"
    assert detail["engagement"]["reason"] == "order_placed"
    assert detail["engagement"]["last_interaction_type"] == "order_placed"
    assert detail["stores"] == [{"store_id": people["eu"], "customer_id": "1"}]
    assert detail["subscription"]["status"] == "subscribed"
    assert client.get(f"/api/v1/contacts/{stranger}", headers=headers).status_code == 404
