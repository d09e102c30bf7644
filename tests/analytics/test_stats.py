"""Contacts statistics: shares that sum to 100.00, groups, filters and money per currency."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from integration.analytics.stats import SubscriptionFilter, contact_stats, shares
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events, ingest_orders
from integration.store import session_scope
from integration.store.models import InteractionType, SubscriptionStatus
from integration.store.types import utcnow
from tests.support.builders import bearer, customer, event, make_store, order


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=10**7))
def test_shares_always_sum_to_exactly_100(engaged: int, unengaged: int) -> None:
    got = shares([engaged, unengaged])
    assert all(s == s.quantize(Decimal("0.01")) for s in got)
    if engaged + unengaged:
        assert sum(got) == Decimal("100.00")
        for count, share in zip([engaged, unengaged], got, strict=True):
            assert abs(share - Decimal(count * 100) / (engaged + unengaged)) < Decimal("0.01")
    else:
        assert got == [Decimal("0.00"), Decimal("0.00")]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([1, 2], ["33.33", "66.67"]),
        ([2, 1], ["66.67", "33.33"]),
        ([1, 1], ["50.00", "50.00"]),
        ([1, 0], ["100.00", "0.00"]),
    ],
)
def test_largest_remainder_examples(counts: list[int], expected: list[str]) -> None:
    assert [str(s) for s in shares(counts)] == expected


def test_groups_filters_and_money_per_currency(db_url: str) -> None:
    now = utcnow()
    sub, unknown, unsub = (
        SubscriptionStatus.SUBSCRIBED,
        SubscriptionStatus.UNKNOWN,
        SubscriptionStatus.UNSUBSCRIBED,
    )
    with session_scope(db_url) as session:
        eu = make_store(session, "EUR")
        us = make_store(session, "USD", account_id=eu.account_id)
        ingest_customers(
            session,
            eu,
            [
                customer("1", "a@example.com", subscription_status=sub),
                customer("2", "b@example.com", subscription_status=sub),
                customer("3", "c@example.com", subscription_status=unknown),
                customer("4", "d@example.com", subscription_status=unsub),
            ],
        )
        ingest_orders(
            session,
            eu,
            [
                order("o1", created=now - timedelta(days=1), customer_id="1", total_price="10.00"),
                order("o2", created=now - timedelta(days=2), customer_id="1", total_price="20.00"),
                order(
                    "o3",
                    created=now - timedelta(days=3),
                    customer_id="3",
                    total_price="30.00",
                    cancelled_at=now,
                ),
                order("o4", created=now - timedelta(days=400), customer_id="2", total_price="7.00"),
            ],
        )
        ingest_orders(
            session,
            us,
            [
                order(
                    "u1",
                    created=now - timedelta(days=5),
                    email="a@example.com",
                    currency="USD",
                    total_price="5.00",
                )
            ],
        )
        ingest_events(session, eu, [event(InteractionType.HARD_BOUNCE, email="c@example.com")], source="api")
        classify(session, eu.account_id)

        both = contact_stats(session, eu.account_id, SubscriptionFilter.SUBSCRIBED_UNKNOWN)
        groups = both["groups"]
        assert (groups["engaged"]["count"], groups["unengaged"]["count"], groups["blocked"]["count"]) == (
            1,
            1,
            1,
        )
        assert (groups["engaged"]["percent"], groups["unengaged"]["percent"]) == ("50.00", "50.00")
        assert groups["engaged"]["value"] == [
            {
                "currency": "EUR",
                "revenue": "30.00",
                "orders": 2,
                "customers": 1,
                "aov": "15.00",
                "acv": "30.00",
                "ano": "2.00",
            },
            {
                "currency": "USD",
                "revenue": "5.00",
                "orders": 1,
                "customers": 1,
                "aov": "5.00",
                "acv": "5.00",
                "ano": "1.00",
            },
        ]
        assert groups["unengaged"]["value"][0]["revenue"] == "7.00"  # b@ ordered 400 days ago
        assert groups["blocked"]["value"] == []  # c@'s only order was cancelled
        assert both["time_frame_days"] == 180

        only_unknown = contact_stats(session, eu.account_id, SubscriptionFilter.UNKNOWN)["groups"]
        assert [only_unknown[g]["count"] for g in ("engaged", "unengaged", "blocked")] == [0, 0, 1]
        assert (only_unknown["engaged"]["percent"], only_unknown["unengaged"]["percent"]) == ("0.00", "0.00")


def test_the_stats_endpoint_validates_its_filter(client, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        headers = bearer(session, make_store(session).account_id)
    assert (
        client.get("/api/v1/contacts/stats", headers=headers).get_json()["subscription"]
        == "subscribed_unknown"
    )
    assert client.get("/api/v1/contacts/stats?subscription=unsubscribed", headers=headers).status_code == 422


def test_the_endpoint_answers_from_the_kept_statistics_and_a_delivery_brings_them_up_to_date(
    client,
    settings,
    run_worker,  # type: ignore[no-untyped-def]
) -> None:
    from integration.store.models import StatsCache
    from jobs.compute import request_stats_refresh
    from jobs.queues import COMPUTE, queue

    with session_scope(settings.database_url) as session:
        store = make_store(session)
        headers = bearer(session, store.account_id)
        account_id = store.account_id
    first = client.get("/api/v1/contacts/stats", headers=headers).get_json()
    assert first["groups"]["engaged"]["count"] == 0
    with session_scope(settings.database_url) as session:
        assert len(session.scalars(select(StatsCache)).all()) == 3  # every filter, computed on first use

    event = {"event_id": "e1", "email": "ann@example.com", "type": "email_click",
             "occurred_at": utcnow().isoformat()}  # fmt: skip
    response = client.post(f"/api/v1/stores/{store.id}/events", json=[event], headers=headers)
    assert response.status_code < 300
    # Until the worker runs, the kept numbers are served, with the time they were computed.
    assert client.get("/api/v1/contacts/stats", headers=headers).get_json() == first
    run_worker()
    after = client.get("/api/v1/contacts/stats", headers=headers).get_json()
    assert after["groups"]["engaged"]["count"] == 1
    assert after["updated_at"] > first["updated_at"]

    # A burst of changes queues one refresh.
    for _ in range(5):
        assert request_stats_refresh(settings, account_id)
    assert queue(settings, COMPUTE).count == 1
