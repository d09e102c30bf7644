"""Why a contact is in a segment: each condition met or not agrees with the filter language, and the
count of members who can receive marketing email agrees with what an audience sync adds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from integration.analytics import rfm
from integration.audiences import filters, segments
from integration.audiences.explain import explain
from integration.campaigns.sends import SendInput, record_sends, save_campaign
from integration.commerce.carts import mark_abandoned
from integration.contacts.engagement import classify
from integration.contract import LineItemRecord
from integration.ingest import ingest_checkouts, ingest_customers, ingest_events, ingest_orders
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    CampaignChannel,
    Contact,
    DestinationKind,
    InteractionType,
    SendStatus,
    SubscriptionStatus,
)
from integration.store.types import utcnow
from tests.support.builders import checkout, customer, event, make_store, order
from tests.support.syncs import PUBLIC_ADDRESS, Audience, add_sync, dry_run, set_contact

NOW = utcnow().replace(microsecond=0)
DAY = timedelta(days=1)

# Each condition of the language, with values some of the contacts below meet and some do not.
LEAVES: dict[str, list[Any]] = {
    "engagement": [["engaged"], ["unengaged", "blocked"]],
    "subscription": [["subscribed"], ["unknown", "unsubscribed"]],
    "blocked_reason": [["spam_complaint"], ["hard_bounce"]],
    "interacted_within_days": [30, 1],
    "not_interacted_within_days": [30],
    "contacted_within_days": [14, 1],
    "not_contacted_within_days": [14],
    "opened_within_days": [30, 1],
    "clicked_within_days": [30],
    "scanned_within_days": [30],
    "created_within_days": [1],
    "bought_product": [{"sku": "ABC-1", "within_days": 90}, {"product_id": "p1"}],
    "orders_count": [{"min": 2}, {"max": 0}, {"min": 1, "max": 1}],
    "total_spent": [{"currency": "EUR", "min": "100.00"}, {"currency": "EUR", "max": "30"}],
    "store_id": ["us"],
    "has_open_abandoned_checkout": [True, False],
    "tag": ["vip"],
    "rfm_segment": [["Champions"], [rfm.PROSPECTS]],
    "spender_tier": [["big"], ["low", "medium"]],
    "rfm_recency": [[5], [1, 2, 3]],
    "rfm_frequency": [[1], [4, 5]],
    "frequent_buyer": [True, False],
}


@pytest.fixture
def people(db_url: str) -> dict[str, Any]:
    """Five contacts of one account in two stores, with orders, sends, responses and a cart."""
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
        shirt = LineItemRecord(
            title="Shirt", quantity=1, unit_price=Decimal("150.00"), product_id="p1", sku="ABC-1"
        )
        ingest_orders(
            session,
            eu,
            [
                order("o1", created=NOW - 2 * DAY, customer_id="1", line_items=[shirt]),
                order("o2", created=NOW - 40 * DAY, customer_id="1", total_price="50.00"),
                order(
                    "o3", created=NOW - 200 * DAY, customer_id="2", total_price="20.00", line_items=[shirt]
                ),
                order("o4", created=NOW - DAY, customer_id="3", total_price="999.00", cancelled_at=NOW),
            ],
        )
        ingest_events(
            session,
            us,
            [event(InteractionType.SPAM_COMPLAINT, at=NOW - DAY, email="eve@example.com")],
            source="api",
        )
        ingest_events(
            session,
            eu,
            [
                event(InteractionType.EMAIL_OPEN, NOW - 2 * DAY, email="ann@example.com", event_id="e1"),
                event(InteractionType.EMAIL_CLICK, NOW - 3 * DAY, email="ann@example.com", event_id="e2"),
                event(InteractionType.QR_SCAN, NOW - 7 * DAY, email="bob@example.com", event_id="e3"),
            ],
            source="api",
        )
        ingest_checkouts(session, us, [checkout("t1", updated=NOW - 2 * DAY, email="dee@example.com")])
        mark_abandoned(session, NOW)
        rows = session.execute(select(Contact.email, Contact.id).where(Contact.account_id == eu.account_id))
        ids = {email: contact_id for email, contact_id in rows}
        campaign = save_campaign(session, eu.account_id, channel=CampaignChannel.EMAIL, name="Spring")
        record_sends(
            session,
            eu.account_id,
            campaign.id,
            [
                SendInput(
                    SendStatus.DELIVERED,
                    ids["ann@example.com"],
                    sent_at=NOW - 3 * DAY,
                    delivered_at=NOW - 3 * DAY,
                )
            ],
        )
        classify(session, eu.account_id, now=NOW)
        rfm.compute(session, eu.account_id, now=NOW)
        other = make_store(session)
        ingest_customers(session, other, [customer("1", "stranger@example.com")])
        stranger = session.scalar(select(Contact.id).where(Contact.email == "stranger@example.com"))
        return {"account": eu.account_id, "us": us.id, "ids": ids, "stranger": stranger}


def _resolved(raw: Any, people: dict[str, Any]) -> Any:
    """A filter with the store named "us" given its id."""
    if isinstance(raw, dict):
        return {k: (people["us"] if k == "store_id" else _resolved(v, people)) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_resolved(v, people) for v in raw]
    return raw


def _members(db_url: str, account_id: int, condition: dict[str, Any]) -> set[int]:
    with session_scope(db_url) as session:
        compiled = filters.compile_filter(session, condition, NOW)
        return set(session.scalars(select(Contact.id).where(Contact.account_id == account_id, compiled)))


def _met(db_url: str, people: dict[str, Any], condition: dict[str, Any]) -> dict[int, dict[str, Any]]:
    with session_scope(db_url) as session:
        found = {}
        for contact_id in people["ids"].values():
            tree = explain(session, people["account"], contact_id, condition, now=NOW)
            assert tree is not None
            found[contact_id] = tree
        return found


def test_every_condition_of_the_language_is_tried() -> None:
    assert set(LEAVES) == set(filters.LEAVES)


@pytest.mark.parametrize(
    "raw", [{key: value} for key, values in LEAVES.items() for value in values], ids=lambda raw: str(raw)
)
def test_a_condition_is_met_exactly_for_the_contacts_it_selects(
    db_url: str, people: dict[str, Any], raw: dict[str, Any]
) -> None:
    condition = filters.parse(_resolved(raw, people))
    members = _members(db_url, people["account"], condition)
    trees = _met(db_url, people, condition)
    assert {cid for cid, tree in trees.items() if tree["met"]} == members
    assert all(tree["kind"] == "leaf" and tree["path"] == "0" for tree in trees.values())


def test_the_conditions_chosen_both_hold_and_fail_for_someone(db_url: str, people: dict[str, Any]) -> None:
    everyone = set(people["ids"].values())
    for key, values in LEAVES.items():
        chosen = [
            _members(db_url, people["account"], filters.parse(_resolved({key: v}, people))) for v in values
        ]
        assert any(chosen), key  # somebody meets one of them
        assert any(found != everyone for found in chosen), key  # somebody fails one of them


@pytest.mark.parametrize(
    "raw",
    [
        {"all": [{"tag": "vip"}, {"not": {"store_id": "us"}}]},
        {
            "any": [
                {"engagement": ["blocked"]},
                {"all": [{"orders_count": {"min": 1}}, {"opened_within_days": 30}]},
            ]
        },
        {"not": {"any": [{"subscription": ["subscribed"]}, {"has_open_abandoned_checkout": True}]}},
        {"all": []},
        {"any": []},
    ],
)
def test_groups_combine_as_the_filter_does(db_url: str, people: dict[str, Any], raw: dict[str, Any]) -> None:
    condition = filters.parse(_resolved(raw, people))
    members = _members(db_url, people["account"], condition)
    trees = _met(db_url, people, condition)
    assert {cid for cid, tree in trees.items() if tree["met"]} == members
    for tree in trees.values():
        _check_node(tree)


def _check_node(node: dict[str, Any]) -> None:
    parts = node["parts"]
    for n, part in enumerate(parts):
        assert part["path"] == f"{node['path']}.{n}"
        _check_node(part)
    if node["kind"] == "all":
        assert node["met"] == all(p["met"] for p in parts)
    elif node["kind"] == "any":
        assert node["met"] == any(p["met"] for p in parts)
    elif node["kind"] == "not":
        assert node["met"] != parts[0]["met"]


def test_the_tree_names_each_condition_where_it_stands(db_url: str, people: dict[str, Any]) -> None:
    condition = filters.parse({"all": [{"tag": "vip"}, {"not": {"orders_count": {"min": 2}}}]})
    with session_scope(db_url) as session:
        tree = explain(session, people["account"], people["ids"]["ann@example.com"], condition, now=NOW)
    assert tree == {
        "kind": "all",
        "key": "all",
        "path": "0",
        "met": False,
        "parts": [
            {"kind": "leaf", "key": "tag", "path": "0.0", "met": True, "parts": []},
            {
                "kind": "not",
                "key": "not",
                "path": "0.1",
                "met": False,
                "parts": [{"kind": "leaf", "key": "orders_count", "path": "0.1.0", "met": True, "parts": []}],
            },
        ],
    }


def test_another_accounts_contact_is_not_explained(db_url: str, people: dict[str, Any]) -> None:
    with session_scope(db_url) as session:
        assert explain(session, people["account"], people["stranger"], {"tag": "vip"}, now=NOW) is None


@pytest.mark.audience(4, unsubscribed=2, blocked=1)
def test_members_who_can_receive_marketing_are_those_an_audience_sync_adds(
    settings: Settings, audience_shop: Audience, dns: dict[str, list[str]]
) -> None:
    no_email = audience_shop.contact_ids["person3@example.com"]
    set_contact(settings, no_email, email="")
    with session_scope(settings.database_url) as session:
        segments.refresh(session, audience_shop.segment_id)
        counted = segments.reachable(session, audience_shop.segment_id)
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    sync_id = add_sync(
        settings,
        audience_shop,
        DestinationKind.WEBHOOK,
        {"url": "https://hooks.example.com/storepulse"},
        {"secret": "whsec_0123456789abcdef"},
    )
    planned = dry_run(settings, sync_id)
    assert counted == {"members": 7, "marketable": 3}
    assert planned["adds"] == counted["marketable"]
