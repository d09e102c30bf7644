"""Refunds and line discounts from Shopify's published examples, through signed deliveries and a real worker.

Shopify's example order #1001 (450789469) totals 598.94 USD and lists its refund 509562969 (209.00
paid back); refund 929361467 pays back 5.00 of shipping. Revenue is what the order earned net of
both: 384.94, wherever the API reports revenue.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest
from integration.contract import CampaignRecord, SendRecord
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Campaign, CampaignChannel, Contact, SendStatus, Store
from integration.store.types import utcnow
from tests.support.shopify import Deliver, payload

ORDER: dict[str, Any] = payload("orders_partially_refunded")["orders"][0]
REFUND: dict[str, Any] = payload("refund")["refund"]  # 209.00; the order lists it too
SHIPPING_REFUND: dict[str, Any] = payload("refund_shipping")["refund"]  # 5.00
EMAIL = "bob.norman@mail.example.com"
NET = "384.94"  # 598.94 − 209.00 − 5.00


def _get(client: FlaskClient, url: str, headers: dict[str, str]) -> Any:
    answer = client.get(url, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _contact_id(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalars(select(Contact.id).where(Contact.email == EMAIL)).one()


def _usd(values: list[dict[str, Any]]) -> dict[str, Any]:
    [usd] = [v for v in values if v["currency"] == "USD"]
    return usd


def _delivered(deliver: Deliver, topic: str, body: dict[str, Any]) -> None:
    assert deliver(topic, body).status_code == 200


@pytest.mark.parametrize("refunds_first", [True, False], ids=["refunds_first", "order_first"])
def test_a_partly_refunded_order_counts_its_net_total_as_revenue_whatever_arrives_first(
    deliver: Deliver,
    shopify_client: FlaskClient,
    shopify_settings: Settings,
    shop_headers: dict[str, str],
    run_worker: Any,
    refunds_first: bool,
) -> None:
    deliveries = [("refunds/create", REFUND), ("refunds/create", SHIPPING_REFUND)]
    deliveries = (
        [*deliveries, ("orders/create", ORDER)] if refunds_first else [("orders/create", ORDER), *deliveries]
    )
    for topic, body in deliveries:
        _delivered(deliver, topic, body)
        run_worker()

    summary = _get(shopify_client, "/api/v1/summary", shop_headers)
    assert summary["orders"]["revenue"] == [{"currency": "USD", "orders": 1, "amount": NET}]
    stats = _get(shopify_client, "/api/v1/contacts/stats", shop_headers)
    [value] = [v for group in stats["groups"].values() for v in group["value"] if v["currency"] == "USD"]
    assert (value["revenue"], value["aov"], value["acv"]) == (NET, NET, NET)
    rfm = _get(shopify_client, "/api/v1/rfm", shop_headers)
    spent = sum(Decimal(_usd(s["revenue"])["amount"]) for s in rfm["segments"] if s["revenue"])
    assert spent == Decimal(NET)

    contact_id = _contact_id(shopify_settings)
    [order] = _get(shopify_client, f"/api/v1/contacts/{contact_id}", shop_headers)["orders"]
    shown = (order["total_price"], order["total_refunded"], order["net_total"], order["financial_status"])
    assert shown == ("598.94", "214.00", NET, "partially_refunded")
    detail = _get(shopify_client, f"/api/v1/contacts/{contact_id}/orders/{order['id']}", shop_headers)
    assert (detail["total_refunded"], detail["net_total"]) == ("214.00", NET)
    [listed] = _get(shopify_client, "/api/v1/orders?from=2000-01-01&to=2099-12-31", shop_headers)["orders"]
    assert (listed["total_price"], listed["total_refunded"], listed["net_total"]) == ("598.94", "214.00", NET)

    # The same refund again (a redelivery under a new webhook id) changes nothing.
    _delivered(deliver, "refunds/create", REFUND)
    run_worker()
    again = _get(shopify_client, "/api/v1/summary", shop_headers)
    assert again["orders"]["revenue"] == summary["orders"]["revenue"]


def test_the_leaderboard_and_campaign_results_count_the_refunded_order_net(
    deliver: Deliver,
    shopify_client: FlaskClient,
    shopify_settings: Settings,
    shop: int,
    shop_headers: dict[str, str],
    run_worker: Any,
) -> None:
    # Edited: the example's dates (2008) moved to now, so that the order falls in this year's
    # leaderboard and in the attribution window of a campaign sent an hour before it.
    now = utcnow().replace(microsecond=0)
    order = {**ORDER, **dict.fromkeys(("created_at", "updated_at", "processed_at"), now.isoformat())}
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        ingest.ingest_campaigns(
            session,
            store,
            [CampaignRecord(external_id="spring", channel=CampaignChannel.EMAIL, name="Spring")],
        )
        ingest.ingest_sends(
            session,
            store,
            [
                SendRecord(
                    campaign_id="spring",
                    status=SendStatus.SENT,
                    email=EMAIL,
                    sent_at=now - timedelta(hours=1),
                )
            ],
        )
        campaign_id = session.scalars(select(Campaign.id).where(Campaign.external_id == "spring")).one()
    _delivered(deliver, "orders/create", order)
    _delivered(deliver, "refunds/create", SHIPPING_REFUND)
    run_worker()

    board = _get(
        shopify_client, "/api/v1/leaderboard?rank_by=total_spent&time_frame=year_to_date", shop_headers
    )
    [row] = board["rows"]
    assert (row["contact"]["email"], row["total_spent"], row["average_order"]) == (EMAIL, NET, NET)
    results = _get(shopify_client, f"/api/v1/campaigns/{campaign_id}/results", shop_headers)
    assert results["revenue"] == [{"currency": "USD", "amount": NET}]
    profile = _get(shopify_client, f"/api/v1/contacts/{_contact_id(shopify_settings)}", shop_headers)
    [send] = profile["campaigns"]
    credited = send["attribution"]
    assert (credited["total_price"], credited["net_total"], credited["currency"]) == ("598.94", NET, "USD")


def test_line_discounts_are_read_from_their_allocations_and_add_up_to_the_order(
    deliver: Deliver,
    shopify_client: FlaskClient,
    shopify_settings: Settings,
    shop_headers: dict[str, str],
    run_worker: Any,
) -> None:
    _delivered(deliver, "orders/create", ORDER)
    run_worker()
    contact_id = _contact_id(shopify_settings)
    [order] = _get(shopify_client, f"/api/v1/contacts/{contact_id}", shop_headers)["orders"]
    detail = _get(shopify_client, f"/api/v1/contacts/{contact_id}/orders/{order['id']}", shop_headers)

    # Each line shows total_discount 0.00 in the payload; its discount_allocations hold 3.34, 3.33, 3.33.
    assert [i["discount"] for i in detail["line_items"]] == ["3.34", "3.33", "3.33"]
    lines = [(i["sku"], i["line_total"], i["discount"], i["discounted_total"]) for i in detail["line_items"]]
    assert lines == [
        ("IPOD2008GREEN", "199.00", "3.34", "195.66"),
        ("IPOD2008RED", "199.00", "3.33", "195.67"),
        ("IPOD2008BLACK", "199.00", "3.33", "195.67"),
    ]
    assert (detail["line_discounts"], detail["total_discounts"]) == ("10.00", "10.00")
    assert detail["discounts_add_up"] is True
    # 597.00 − 10.00 + 0.00 shipping + 11.94 tax = 598.94
    parts = (detail["items_total"], detail["total_shipping"], detail["total_tax"], detail["total_price"])
    assert parts == ("597.00", "0.00", "11.94", "598.94")
    assert detail["adds_up"] is True
