"""Deletions and redactions hold whatever order the deliveries arrive in, as the API shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses

from integration.store.types import utcnow
from tests.support.shopify import SHOP, Deliver, payload, raw

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
BOB = "bob@biller.com"  # the customers/create sample's customer
JOHN = "john@example.com"  # the orders/create sample's customer
# The samples' customer and order were updated on 2026-07-09 and 2026-07-10; deletions come later.
DELETED_AT = "2026-07-12T00:00:00Z"

Api = Callable[[str], Any]


@pytest.fixture
def shopify_reads() -> Any:
    """Answer the read of a new customer's consent and tags (asked once a customer is stored)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(GRAPHQL, json={"data": {"nodes": []}})
        yield mock


def _emails(shop_api: Api, search: str) -> list[str]:
    return [c["email"] for c in shop_api(f"/api/v1/contacts?q={search}")["contacts"]]


def _in_turn(deliver: Deliver, run_worker: Callable[[], bool], deliveries: list[tuple[Any, ...]]) -> None:
    """Deliver each one and let the worker finish it before the next (an order of arrival)."""
    for topic, body, *triggered in deliveries:
        assert (
            deliver(topic, body, **({"triggered_at": triggered[0]} if triggered else {})).status_code == 200
        )
        run_worker()


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-first", "create-first"])
def test_a_deleted_customer_stays_deleted_whichever_delivery_arrives_first(
    delete_first: bool, deliver: Deliver, run_worker: Callable[[], bool], shop_api: Api, shopify_reads: Any
) -> None:
    create = ("customers/create", raw("customers_create"))
    delete = ("customers/delete", raw("customers_delete"), DELETED_AT)
    _in_turn(deliver, run_worker, [delete, create] if delete_first else [create, delete])
    assert _emails(shop_api, BOB) == []
    assert shop_api("/api/v1/summary")["contacts"]["total"] == 0


def test_a_customer_updated_after_its_deletion_is_back(
    deliver: Deliver, run_worker: Callable[[], bool], shop_api: Api, shopify_reads: Any
) -> None:
    newer = payload("customers_create")
    newer["updated_at"] = "2026-07-13T00:00:00Z"
    _in_turn(
        deliver,
        run_worker,
        [
            ("customers/delete", raw("customers_delete"), DELETED_AT),
            ("customers/create", raw("customers_create")),
            ("customers/update", newer),
        ],
    )
    assert _emails(shop_api, BOB) == [BOB]


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-first", "create-first"])
def test_a_deleted_order_stays_deleted_whichever_delivery_arrives_first(
    delete_first: bool, deliver: Deliver, run_worker: Callable[[], bool], shop_api: Api
) -> None:
    create = ("orders/create", raw("orders_create"))
    delete = ("orders/delete", raw("orders_delete"), DELETED_AT)
    # Even a later version of the order (orders/updated) does not restore it: Shopify never does.
    later = payload("orders_create")
    later["updated_at"] = "2026-07-20T00:00:00Z"
    _in_turn(deliver, run_worker, [delete, create] if delete_first else [create, delete])
    _in_turn(deliver, run_worker, [("orders/updated", later)])
    summary = shop_api("/api/v1/summary")
    assert summary["orders"]["revenue"] == []
    [john] = shop_api(f"/api/v1/contacts?q={JOHN}")["contacts"]
    profile = shop_api(f"/api/v1/contacts/{john['id']}")
    assert (profile["orders_count"], profile["orders"]) == (0, [])
    assert profile["engagement"]["last_interaction_at"] is None


@pytest.mark.parametrize("redact_first", [True, False], ids=["redact-first", "create-first"])
def test_a_redacted_customer_never_comes_back_whatever_the_times(
    redact_first: bool, deliver: Deliver, run_worker: Callable[[], bool], shop_api: Api, shopify_reads: Any
) -> None:
    # The customers/redact sample names the orders/create sample's customer and order.
    customer = payload("customers_create")
    customer.update(id=115310627314723954, email=JOHN, first_name="John", updated_at=utcnow().isoformat())
    order = payload("orders_create")
    order["updated_at"] = utcnow().isoformat()
    redact = ("customers/redact", raw("customers_redact"), DELETED_AT)
    created = [("orders/create", raw("orders_create")), ("customers/create", raw("customers_create"))]
    _in_turn(deliver, run_worker, [redact, *created] if redact_first else [*created, redact])
    # Versions made long after the erasure, and the customer's consent, bring nothing back.
    consent = payload("customers_email_marketing_consent_update")
    consent.update(customer_id=115310627314723954, email_address=JOHN)
    consent["email_marketing_consent"]["consent_updated_at"] = utcnow().isoformat()
    _in_turn(
        deliver,
        run_worker,
        [
            ("customers/update", customer),
            ("orders/updated", order),
            ("customers_email_marketing_consent/update", consent),
        ],
    )
    assert _emails(shop_api, JOHN) == []
    assert _emails(shop_api, "John") == []
    summary = shop_api("/api/v1/summary")
    # The order still counts, without a person behind it.
    assert summary["orders"]["revenue"] == [{"currency": "USD", "orders": 1, "amount": "403.00"}]
    assert _emails(shop_api, BOB) == [BOB]  # another customer of the shop is untouched


def test_one_data_request_delivered_under_two_webhook_ids_makes_one_export(
    deliver: Deliver, run_worker: Callable[[], bool], shop_api: Api
) -> None:
    _in_turn(deliver, run_worker, [("orders/create", raw("orders_create"))])
    for webhook_id in ("b54557e4-8a5f-4bf7-8d70-bcd043000001", "b54557e4-8a5f-4bf7-8d70-bcd043000002"):
        assert (
            deliver(
                "customers/data_request", raw("customers_data_request"), webhook_id=webhook_id
            ).status_code
            == 200
        )
    run_worker()
    deliver("customers/data_request", raw("customers_data_request"))
    run_worker()
    [export] = shop_api("/api/v1/data-requests")
    assert (export["request_id"], export["customer_id"]) == ("9999", "115310627314723954")
    assert shop_api(f"/api/v1/data-requests/{export['id']}")["document"]["contact"]["email"] == JOHN
