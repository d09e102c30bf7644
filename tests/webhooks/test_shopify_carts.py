"""Carts from Shopify's published payloads, signed through the web process and the worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from integration.commerce.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store
from tests.support.builders import bearer
from tests.support.shopify import Deliver, payload


def _headers(settings: Settings, store_id: int) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        return bearer(session, store.account_id)


def _abandon(settings: Settings) -> None:
    """What the scheduler does every minute."""
    with session_scope(settings.database_url) as session:
        mark_abandoned(session)


def _deliver_all(deliver: Deliver, run_worker: Callable[[], object], steps: list[tuple[str, Any]]) -> None:
    for topic, body in steps:
        answer = deliver(topic, json.dumps(body).encode())
        assert answer.status_code == 200, answer.get_data(as_text=True)
        run_worker()


@pytest.mark.parametrize("first", ["checkout", "order"])
def test_an_order_placed_before_the_checkout_was_abandoned_does_not_recover_it(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], object],
    shopify_client: FlaskClient,
    first: str,
) -> None:
    # Shopify's REST examples: the checkout was abandoned on 2012-10-12, the order sharing its cart
    # token was created on 2008-01-10, years before the checkout existed.
    checkout = payload("rest_abandoned_checkout")["checkout"]
    order = payload("rest_order")["order"]
    assert checkout["cart_token"] == order["cart_token"]
    steps = [("checkouts/create", checkout), ("orders/create", order)]
    if first == "order":
        steps.reverse()
    _deliver_all(deliver, run_worker, steps[:1])
    _abandon(shopify_settings)
    _deliver_all(deliver, run_worker, steps[1:])
    _abandon(shopify_settings)

    headers = _headers(shopify_settings, shop)
    period = "from=2012-10-01T00:00:00Z&to=2012-11-01T00:00:00Z"
    stats = shopify_client.get(f"/api/v1/carts/stats?{period}", headers=headers).get_json()
    assert (stats["abandoned"], stats["recovered"], stats["recovery_rate"]) == (1, 0, 0.0)
    assert stats["recovered_revenue"] == []
    [cart] = shopify_client.get(f"/api/v1/carts?{period}", headers=headers).get_json()["carts"]
    assert (cart["token"], cart["state"], cart["recovered_at"], cart["recovered_by"]) == (
        checkout["token"],
        "abandoned",
        None,
        None,
    )
    assert datetime.fromisoformat(cart["abandoned_at"]) > datetime.fromisoformat(checkout["updated_at"])
    # Nothing was recovered in 2008 either.
    then = "from=2008-01-01T00:00:00Z&to=2008-02-01T00:00:00Z"
    assert shopify_client.get(f"/api/v1/carts/stats?{then}", headers=headers).get_json()["abandoned"] == 0


@pytest.mark.parametrize("first", ["checkout", "order"])
def test_a_checkout_goes_to_its_customers_contact_and_the_data_request_lists_it(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], object],
    shopify_client: FlaskClient,
    first: str,
) -> None:
    # Shopify's webhook samples, unchanged: the checkout (own email example@email.com) names a
    # customer john@example.com; the order's customer and the data request's are john@example.com.
    steps = [("checkouts/create", payload("checkouts_create")), ("orders/create", payload("orders_create"))]
    if first == "order":
        steps.reverse()
    _deliver_all(deliver, run_worker, [*steps, ("customers/data_request", payload("customers_data_request"))])

    headers = _headers(shopify_settings, shop)
    [summary] = shopify_client.get("/api/v1/data-requests", headers=headers).get_json()
    document = shopify_client.get(f"/api/v1/data-requests/{summary['id']}", headers=headers).get_json()[
        "document"
    ]
    assert document["contact"]["email"] == "john@example.com"
    assert [o["id"] for o in document["orders"]] == [str(payload("orders_create")["id"])]
    # The checkout is the person's, and keeps the email it was given.
    assert [(c["token"], c["email"]) for c in document["checkouts"]] == [("123123123", "example@email.com")]
    contacts = shopify_client.get("/api/v1/contacts?q=example", headers=headers).get_json()
    assert [c["email"] for c in contacts["contacts"]] == ["john@example.com"]


CHAIN = [
    ("checkouts/create", "checkouts_create"),
    ("orders/create", "orders_create"),
    # orders/paid delivers the same Order resource; the sample order is already paid.
    ("orders/paid", "orders_create"),
]


@pytest.mark.parametrize("direction", ["in order", "reversed"])
def test_a_checkout_order_and_payment_chain_shows_one_recovered_cart_one_order_and_one_contact(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], object],
    shopify_client: FlaskClient,
    direction: str,
) -> None:
    # Shopify's webhook samples form a chain: the order's checkout_token is the checkout's token, and
    # it was placed an hour after the checkout's last update (after the abandonment, within the window).
    checkout, placed = payload("checkouts_create"), payload("orders_create")
    assert placed["checkout_token"] == checkout["token"]
    steps = CHAIN if direction == "in order" else CHAIN[::-1]
    for topic, name in steps:
        _deliver_all(deliver, run_worker, [(topic, payload(name))])
        _abandon(shopify_settings)

    headers = _headers(shopify_settings, shop)
    day = "from=2026-07-10T00:00:00Z&to=2026-07-11T00:00:00Z"
    [cart] = shopify_client.get(f"/api/v1/carts?{day}", headers=headers).get_json()["carts"]
    assert (cart["token"], cart["state"], cart["recovery_rule"]) == (
        "123123123",
        "recovered",
        "checkout_token",
    )
    assert cart["abandoned_at"] == "2026-07-10T15:10:00+00:00"  # the last update plus the 10-minute delay
    assert cart["recovered_at"] == "2026-07-10T16:00:01+00:00"  # the order's processed time
    assert cart["recovered_by"]["external_id"] == str(placed["id"])
    assert (cart["contact"]["email"], cart["email"]) == ("john@example.com", "example@email.com")
    stats = shopify_client.get(f"/api/v1/carts/stats?{day}", headers=headers).get_json()
    assert (stats["abandoned"], stats["recovered"], stats["recovery_rate"]) == (1, 1, 100.0)
    assert stats["recovered_revenue"] == [{"currency": "USD", "amount": placed["total_price"], "orders": 1}]

    [order] = shopify_client.get(f"/api/v1/orders?{day}", headers=headers).get_json()["orders"]
    assert (order["external_id"], order["name"], order["status"], order["guest"]) == (
        str(placed["id"]),
        placed["name"],
        "paid",
        False,
    )
    assert (order["total_price"], order["currency"], order["line_items"]) == ("403.00", "USD", 2)
    assert order["contact"] == cart["contact"]
    assert order["created_at_local"] == "2026-07-10T12:00:00-04:00"
    profile = shopify_client.get(f"/api/v1/contacts/{order['contact']['id']}", headers=headers).get_json()
    [listed] = profile["orders"]
    assert (listed["badges"], listed["recovered_cart"]["token"]) == (["recovered_cart"], "123123123")


CAPTURED = [
    ("checkouts/create", "pixel_testing_rs_checkouts_create"),
    ("orders/create", "pixel_testing_rs_orders_create"),
    ("orders/updated", "pixel_testing_rs_orders_updated"),
]


@pytest.mark.parametrize("direction", ["in order", "reversed"])
def test_deliveries_captured_from_a_test_shop_complete_the_checkout_and_list_the_order(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], object],
    shopify_client: FlaskClient,
    direction: str,
) -> None:
    # A test shop's checkout (no email yet, no customer), the order placed from it 32 minutes
    # later by a customer, and that order's update, as the shop delivered them.
    steps = CAPTURED if direction == "in order" else CAPTURED[::-1]
    for topic, name in steps:
        _deliver_all(deliver, run_worker, [(topic, payload(name))])
        _abandon(shopify_settings)

    headers = _headers(shopify_settings, shop)
    day = "from=2024-11-06T00:00:00Z&to=2024-11-07T00:00:00Z"
    # A checkout nobody could be reached at is never abandoned: its order completed it.
    stats = shopify_client.get(f"/api/v1/carts/stats?{day}", headers=headers).get_json()
    assert (stats["abandoned"], stats["recovered"]) == (0, 0)
    summary = shopify_client.get("/api/v1/summary", headers=headers).get_json()
    assert summary["checkouts"] == {"completed": 1}
    assert summary["orders"]["total"] == 1

    [order] = shopify_client.get(f"/api/v1/orders?{day}", headers=headers).get_json()["orders"]
    assert (order["external_id"], order["name"], order["guest"]) == ("5778367414385", "#1017", False)
    assert order["contact"]["email"] == "henry@wfls.com"
    # The captured order carries no financial status.
    assert (order["status"], order["financial_status"]) == ("unknown", None)
    assert (order["total_price"], order["currency"], order["line_items"]) == ("600.00", "USD", 1)
    assert order["created_at"] == "2024-11-06T02:54:49+00:00"
    assert order["created_at_local"] == "2024-11-05T21:54:49-05:00"
    profile = shopify_client.get(f"/api/v1/contacts/{order['contact']['id']}", headers=headers).get_json()
    assert [o["name"] for o in profile["orders"]] == ["#1017"]
    assert profile["abandoned_carts"] == []
