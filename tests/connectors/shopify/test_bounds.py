"""Values Shopify never sends, in signed deliveries: refused with their reason at once (recorded on
the delivery, not retried), and never able to hold a record against later updates."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from integration.ingest.inbox import MAX_ATTEMPTS
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Checkout, InboxDelivery, InboxStatus, Order
from integration.store.types import utcnow
from tests.support.shopify import Deliver, payload

Change = Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Change:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _refused(settings: Settings) -> InboxDelivery:
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery).order_by(InboxDelivery.id.desc())).first()
        assert delivery is not None
        session.expunge(delivery)
    assert delivery.status == InboxStatus.FAILED
    assert delivery.attempts == 1  # refused at once, not retried up to MAX_ATTEMPTS
    assert MAX_ATTEMPTS > 1
    return delivery


def _orders(settings: Settings) -> list[Order]:
    with session_scope(settings.database_url) as session:
        rows = list(session.scalars(select(Order)))
        session.expunge_all()
        return rows


ORDER_CASES = {
    "negative total": (_set("total_price", value="-403.00"), "total_price"),
    "total beyond any order": (_set("total_price", value="1000000000000.00"), "total_price"),
    "negative subtotal": (_set("subtotal_price", value="-1.00"), "subtotal_price"),
    "negative line price": (_set("line_items", 0, "price", value="-199.00"), "line_items"),
    "negative quantity": (_set("line_items", 0, "quantity", value=-1), "line_items"),
    "fractional quantity": (_set("line_items", 0, "quantity", value=1.5), "line_items"),
    "quantity beyond any order": (_set("line_items", 0, "quantity", value=1_000_001), "line_items"),
    "negative shipping": (
        _set("total_shipping_price_set", value={"shop_money": {"amount": "-10.00", "currency_code": "USD"}}),
        "total_shipping_price_set",
    ),
    "created in 1900": (_set("created_at", value="1900-01-01T00:00:00Z"), "created_at"),
    "created in year 1 (+01:00)": (_set("created_at", value="0001-01-01T00:00:00+01:00"), "created_at"),
    "updated in 2999": (_set("updated_at", value="2999-01-01T00:00:00Z"), "updated_at"),
    "updated in 9999 (-01:00)": (_set("updated_at", value="9999-12-31T23:59:59-01:00"), "updated_at"),
    "cancelled in 2999": (_set("cancelled_at", value="2999-01-01T00:00:00Z"), "cancelled_at"),
}


@pytest.mark.parametrize(("change", "field"), ORDER_CASES.values(), ids=ORDER_CASES.keys())
def test_an_order_with_a_value_shopify_never_sends_is_refused_with_its_reason(
    change: Change, field: str, shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    body = payload("orders_create")
    change(body)
    assert deliver("orders/create", body).status_code == 200  # signed: stored, then read
    run_worker()
    delivery = _refused(shopify_settings)
    assert field in (delivery.last_error or "")
    assert _orders(shopify_settings) == []


def test_a_checkout_with_a_negative_total_or_quantity_is_refused(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    for change in (_set("total_price", value="-1.00"), _set("line_items", 0, "quantity", value=-2)):
        body = payload("checkouts_create")
        change(body)
        deliver("checkouts/create", body)
        run_worker()
        _refused(shopify_settings)
    with session_scope(shopify_settings.database_url) as session:
        assert list(session.scalars(select(Checkout))) == []


def test_a_refund_paying_back_a_negative_amount_is_refused(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    refund = payload("refund")["refund"]
    refund["transactions"][0]["amount"] = "-5.00"
    deliver("refunds/create", refund)
    run_worker()
    assert "amount" in (_refused(shopify_settings).last_error or "")


def test_an_order_updated_in_2999_never_freezes_the_order_against_later_updates(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    deliver("orders/create", payload("orders_create"))
    future = copy.deepcopy(payload("orders_create"))
    future.update(updated_at="2999-01-01T00:00:00Z", total_price="1.00")
    deliver("orders/updated", future)
    run_worker()
    assert "updated_at" in (_refused(shopify_settings).last_error or "")
    later = payload("orders_create")
    later.update(updated_at=(utcnow() - timedelta(minutes=1)).isoformat(), total_price="500.00")
    deliver("orders/updated", later)
    run_worker()
    [order] = _orders(shopify_settings)
    assert order.total_price == Decimal("500.00")  # the real update applied


def test_a_time_ahead_of_the_receipt_by_more_than_an_hour_is_refused_even_when_read_later(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    # Within the skew of the clock when the worker reads it, but two hours after the delivery came.
    body = payload("orders_create")
    body["updated_at"] = (utcnow() + timedelta(minutes=50)).isoformat()
    deliver("orders/updated", body)
    with session_scope(shopify_settings.database_url) as session:
        session.execute(update(InboxDelivery).values(received_at=utcnow() - timedelta(hours=1, minutes=10)))
    run_worker()
    delivery = _refused(shopify_settings)
    assert "updated_at" in (delivery.last_error or "")
    assert "is later than the receipt" in (delivery.last_error or "")
    assert _orders(shopify_settings) == []


def test_a_nested_time_ahead_of_the_receipt_is_refused_with_its_path(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    """The check walks the whole record: a refund's time inside the order counts like the order's own."""
    body = payload("orders_create")
    ahead = (utcnow() + timedelta(minutes=50)).isoformat()
    body["refunds"] = [
        {
            "id": 1,
            "order_id": body["id"],
            "created_at": ahead,
            "processed_at": ahead,
            "transactions": [{"kind": "refund", "status": "success", "amount": "1.00", "currency": "USD"}],
        }
    ]
    deliver("orders/create", body)
    with session_scope(shopify_settings.database_url) as session:
        session.execute(update(InboxDelivery).values(received_at=utcnow() - timedelta(hours=1, minutes=10)))
    run_worker()
    error = _refused(shopify_settings).last_error or ""
    assert "refunds.0.created_at" in error
    assert "updated_at" not in error  # only the time that is ahead is named
    assert _orders(shopify_settings) == []


def test_a_time_slightly_ahead_of_our_clock_is_taken(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    body = payload("orders_create")
    body["updated_at"] = (utcnow() + timedelta(minutes=20)).isoformat()  # a platform's clock ahead of ours
    deliver("orders/updated", body)
    run_worker()
    assert len(_orders(shopify_settings)) == 1


@pytest.mark.parametrize("updated_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_customer_dated_at_the_edge_of_the_calendar_is_recorded_as_refused(
    updated_at: str, shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any
) -> None:
    body = payload("customers_create")
    body["updated_at"] = updated_at
    deliver("customers/create", body)
    run_worker()
    assert "updated_at" in (_refused(shopify_settings).last_error or "")
