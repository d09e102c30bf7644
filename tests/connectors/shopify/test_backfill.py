"""Backfill through bulk queries (finish webhook or polling, JSONL streamed) and reconciliation."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import responses
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    Checkout,
    CheckoutState,
    Contact,
    Order,
    Store,
    SubscriptionStatus,
)
from jobs.shopify import continue_backfill_job, reconcile_store_job, shopify_upkeep_job, start_backfill_job
from tests.support.shopify import SHOP, Deliver, raw

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
RESULTS = "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/bulk-result.jsonl"

CUSTOMERS_JSONL = (
    "\n".join(
        json.dumps(line)
        for line in [
            {
                "id": "gid://shopify/Customer/1",
                "firstName": "Ada",
                "lastName": "L",
                "createdAt": "2025-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
                "tags": ["vip"],
                "defaultEmailAddress": {
                    "emailAddress": "ada@example.com",
                    "marketingState": "SUBSCRIBED",
                    "marketingUpdatedAt": "2025-02-01T00:00:00Z",
                },
                "defaultPhoneNumber": {"phoneNumber": "+420777000111"},
            },
            {
                "id": "gid://shopify/Customer/2",
                "firstName": None,
                "lastName": None,
                "createdAt": "2025-03-01T00:00:00Z",
                "updatedAt": "2026-01-02T00:00:00Z",
                "tags": [],
                "defaultEmailAddress": {
                    "emailAddress": "grace@example.com",
                    "marketingState": "UNSUBSCRIBED",
                    "marketingUpdatedAt": None,
                },
                "defaultPhoneNumber": None,
            },
            {"id": "gid://shopify/Customer/3", "firstName": "Broken", "updatedAt": None},
        ]
    )
    + "\n"
)

MONEY = {"shopMoney": {"amount": "120.00", "currencyCode": "USD"}}
ORDERS_JSONL = "\n".join(
    json.dumps(line)
    for line in [
        {
            "id": "gid://shopify/Order/10",
            "name": "#1001",
            "email": "ada@example.com",
            "createdAt": "2026-10-01T10:00:00Z",
            "updatedAt": "2026-10-01T10:00:00Z",
            "processedAt": None,
            "cancelledAt": None,
            "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": "FULFILLED",
            "currencyCode": "USD",
            "checkoutToken": "tok-10",
            "cartToken": None,
            "sourceName": "web",
            "totalPriceSet": MONEY,
            "subtotalPriceSet": MONEY,
            "totalDiscountsSet": None,
            "totalTaxSet": None,
            "totalShippingPriceSet": None,
            "customer": {
                "id": "gid://shopify/Customer/1",
                "defaultEmailAddress": {"emailAddress": "ada@example.com"},
            },
        },
        {
            "id": "gid://shopify/LineItem/100",
            "title": "Wool scarf",
            "quantity": 2,
            "sku": "SC-1",
            "variantTitle": "Red",
            "originalUnitPriceSet": {"shopMoney": {"amount": "60.00", "currencyCode": "USD"}},
            "totalDiscountSet": None,
            "product": {"id": "gid://shopify/Product/7"},
            "variant": {"id": "gid://shopify/ProductVariant/8"},
            "__parentId": "gid://shopify/Order/10",
        },
        {
            "id": "gid://shopify/Order/11",
            "name": "#1002",
            "email": "guest@example.com",
            "createdAt": "2026-10-02T10:00:00Z",
            "updatedAt": "2026-10-02T10:00:00Z",
            "processedAt": None,
            "cancelledAt": "2026-10-03T10:00:00Z",
            "displayFinancialStatus": "VOIDED",
            "displayFulfillmentStatus": "UNFULFILLED",
            "currencyCode": "USD",
            "checkoutToken": None,
            "cartToken": None,
            "sourceName": "web",
            "totalPriceSet": MONEY,
            "customer": None,
        },
    ]
)

CHECKOUTS_JSONL = "\n".join(
    json.dumps(line)
    for line in [
        {
            "id": "gid://shopify/AbandonedCheckout/20",
            "abandonedCheckoutUrl": "https://snowdevil.myshopify.com/548380009/checkouts/ac/tok20abc/recover?key=k",
            "createdAt": "2026-10-05T10:00:00Z",
            "updatedAt": "2026-10-05T10:05:00Z",
            "completedAt": None,
            "totalPriceSet": MONEY,
            "customer": {
                "id": "gid://shopify/Customer/2",
                "defaultEmailAddress": {"emailAddress": "grace@example.com"},
            },
        },
        {
            "id": "gid://shopify/LineItem/200",
            "title": "Wool hat",
            "quantity": 1,
            "sku": None,
            "variantTitle": None,
            "originalUnitPriceSet": {"shopMoney": {"amount": "120.00", "currencyCode": "USD"}},
            "originalTotalPriceSet": {"shopMoney": {"amount": "120.00", "currencyCode": "USD"}},
            "discountedTotalPriceWithCodeDiscount": {
                "shopMoney": {"amount": "100.00", "currencyCode": "USD"}
            },
            "product": {"id": "gid://shopify/Product/9"},
            "variant": None,
            "__parentId": "gid://shopify/AbandonedCheckout/20",
        },
    ]
)


def _bulk_api(
    mock: responses.RequestsMock, results: dict[str, str], *, schema_checked: bool = False
) -> list[str]:
    """Answer bulk runs and status polls like Shopify; return the stages started, in order.

    `schema_checked`: a bulk query that Shopify's published schema refuses is refused as Shopify does.
    """
    from tests.support.admin_schema import problems

    started: list[str] = []

    def graphql(request: object) -> tuple[int, dict, str]:
        body = json.loads(request.body)  # type: ignore[attr-defined]
        query = body["query"]
        refused = (
            problems(body["variables"]["query"])
            if "bulkOperationRunQuery" in query and schema_checked
            else []
        )
        if refused:
            errors = [
                {"field": ["query"], "message": f"Invalid bulk query: {message}", "code": "INVALID"}
                for message in refused
            ]
            data = {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": errors}}
            return 200, {}, json.dumps({"data": data})
        if "bulkOperationRunQuery" in query:
            inner = body["variables"]["query"]
            stage = (
                "checkouts"
                if "abandonedCheckouts" in inner
                else "orders"
                if "orders" in inner
                else "customers"
            )
            started.append(stage)
            data = {
                "bulkOperationRunQuery": {
                    "bulkOperation": {"id": f"gid://shopify/BulkOperation/{stage}", "status": "CREATED"},
                    "userErrors": [],
                }
            }
        else:
            stage = body["variables"]["id"].rsplit("/", 1)[-1]
            data = {
                "bulkOperation": {
                    "id": body["variables"]["id"],
                    "status": "COMPLETED",
                    "errorCode": None,
                    "objectCount": "3",
                    "url": f"{RESULTS}?stage={stage}",
                    "partialDataUrl": None,
                }
            }
        return 200, {}, json.dumps({"data": data})

    mock.add_callback(responses.POST, GRAPHQL, callback=graphql)
    for stage, jsonl in results.items():
        mock.get(
            f"{RESULTS}?stage={stage}",
            body=jsonl,
            match=[responses.matchers.query_param_matcher({"stage": stage})],
        )
    return started


def test_a_backfill_runs_every_stage_through_the_finish_webhook_and_polling(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        started = _bulk_api(
            mock, {"customers": CUSTOMERS_JSONL, "orders": ORDERS_JSONL, "checkouts": CHECKOUTS_JSONL}
        )
        first = start_backfill_job(shop)
        assert first is not None
        assert started == ["customers"]
        finish = json.loads(raw("bulk_operations_finish"))
        finish["admin_graphql_api_id"] = "gid://shopify/BulkOperation/customers"
        deliver("bulk_operations/finish", finish)
        run_worker()  # type: ignore[operator]  # the finish webhook continues the backfill
        assert started == ["customers", "orders"]
        with session_scope(shopify_settings.database_url) as session:
            stages = {b.stage: b for b in session.scalars(select(Backfill))}
            running = stages["orders"].id
        # The orders stage's finish webhook is lost: the poll finds it completed.
        assert continue_backfill_job(running) == "completed"
        with session_scope(shopify_settings.database_url) as session:
            checkouts_stage = session.scalars(select(Backfill).where(Backfill.stage == "checkouts")).one().id
        assert continue_backfill_job(checkouts_stage) == "completed"
        assert started == ["customers", "orders", "checkouts"]

    with session_scope(shopify_settings.database_url) as session:
        stages = {b.stage: b for b in session.scalars(select(Backfill))}
        assert {s: (b.status, b.records, b.invalid) for s, b in stages.items()} == {
            "customers": ("completed", 2, 1),
            "orders": ("completed", 2, 0),
            "checkouts": ("completed", 1, 0),
        }
        ada = session.scalars(select(Contact).where(Contact.email == "ada@example.com")).one()
        assert (ada.subscription_status, ada.tags, ada.phone) == (
            SubscriptionStatus.SUBSCRIBED,
            ["vip"],
            "+420777000111",
        )
        grace = session.scalars(select(Contact).where(Contact.email == "grace@example.com")).one()
        assert grace.subscription_status == SubscriptionStatus.UNSUBSCRIBED
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        assert orders["10"].contact_id == ada.id
        assert orders["10"].financial_status == "paid"
        assert [(i.title, i.quantity, i.unit_price, i.product_id) for i in orders["10"].line_items] == [
            ("Wool scarf", 2, Decimal("60.00"), "7")
        ]
        assert orders["11"].financial_status == "voided"
        assert orders["11"].cancelled_at is not None
        checkout = session.scalars(select(Checkout)).one()
        assert (checkout.token, checkout.contact_id, checkout.currency) == ("tok20abc", grace.id, "USD")
        assert checkout.state == CheckoutState.OPEN
        assert [i.title for i in checkout.line_items] == ["Wool hat"]


def test_a_failed_bulk_operation_keeps_its_partial_data_and_error(
    shopify_settings: Settings, shop: int
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(
            GRAPHQL,
            json={
                "data": {
                    "bulkOperationRunQuery": {
                        "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
                        "userErrors": [],
                    }
                }
            },
        )
        mock.post(
            GRAPHQL,
            json={
                "data": {
                    "bulkOperation": {
                        "id": "gid://shopify/BulkOperation/1",
                        "status": "FAILED",
                        "errorCode": "TIMEOUT",
                        "objectCount": "2",
                        "url": None,
                        "partialDataUrl": RESULTS,
                    }
                }
            },
        )
        mock.get(RESULTS, body=CUSTOMERS_JSONL)
        backfill_id = start_backfill_job(shop)
        assert backfill_id is not None
        assert continue_backfill_job(backfill_id) == "failed"
    with session_scope(shopify_settings.database_url) as session:
        stage = session.get(Backfill, backfill_id)
        assert stage is not None
        assert stage.records == 2
        assert "timeout" in (stage.error or "").lower()
        assert len(session.scalars(select(Contact)).all()) == 2


def test_upkeep_starts_missing_backfills_and_reconciliation_rereads_recent_changes(
    shopify_settings: Settings, shop: int, run_worker: object
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        started = _bulk_api(mock, {})
        assert shopify_upkeep_job()["started"] == 1
        run_worker()  # type: ignore[operator]
        assert started == ["customers"]

    order_page = {
        "orders": {
            "edges": [
                {
                    "node": {
                        **json.loads(ORDERS_JSONL.splitlines()[0]),
                        "lineItems": {"edges": [{"node": json.loads(ORDERS_JSONL.splitlines()[1])}]},
                    }
                }
            ],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
    }
    customer_page = {
        "customers": {
            "edges": [{"node": json.loads(CUSTOMERS_JSONL.splitlines()[0])}],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
    }
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json={"data": order_page})
        mock.post(GRAPHQL, json={"data": customer_page})
        assert reconcile_store_job(shop) == 2
        searched = json.loads(mock.calls[0].request.body)["variables"]["query"]
        assert searched.startswith("updated_at:>'")
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        assert store.reconciled_at is not None
        assert session.scalars(select(Order.external_id)).all() == ["10"]


def test_a_next_stage_that_cannot_start_stays_pending_and_upkeep_starts_it(
    shopify_settings: Settings, shop: int, run_worker: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    import jobs.shopify
    from integration.errors import RetriableConnectorError

    with responses.RequestsMock() as mock:
        mock.post(
            GRAPHQL,
            json={
                "data": {
                    "bulkOperationRunQuery": {
                        "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
                        "userErrors": [],
                    }
                }
            },
        )
        mock.post(
            GRAPHQL,
            json={
                "data": {
                    "bulkOperation": {
                        "id": "gid://shopify/BulkOperation/1",
                        "status": "COMPLETED",
                        "errorCode": None,
                        "objectCount": "2",
                        "url": RESULTS,
                        "partialDataUrl": None,
                    }
                }
            },
        )
        mock.get(RESULTS, body=CUSTOMERS_JSONL)
        mock.post(GRAPHQL, status=503, body="")
        first = start_backfill_job(shop)
        assert first is not None
        with pytest.raises(RetriableConnectorError):
            continue_backfill_job(first)
    with session_scope(shopify_settings.database_url) as session:
        stages = {b.stage: b.status for b in session.scalars(select(Backfill))}
    assert stages == {"customers": "completed", "orders": "pending"}
    # The job's retry finds the customers stage completed and does nothing twice.
    assert continue_backfill_job(first) == "completed"

    monkeypatch.setattr(jobs.shopify, "POLL_AFTER", timedelta(0))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        started = _bulk_api(mock, {})
        assert shopify_upkeep_job()["resumed"] == 1
        run_worker()  # type: ignore[operator]
        assert started == ["orders"]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Backfill.status).where(Backfill.stage == "orders")).one() == "running"


def test_a_stage_being_imported_by_one_worker_is_left_alone_by_another(
    shopify_settings: Settings, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        stage = Backfill(store_id=shop, stage="customers", status="importing", operation_id="gid://x/1")
        session.add(stage)
        session.flush()
        stage_id = stage.id
    with responses.RequestsMock() as mock:  # no call to Shopify is expected
        assert continue_backfill_job(stage_id) == "importing"
        assert len(mock.calls) == 0


def test_upkeep_reads_consent_for_recent_customers_whose_read_was_lost(
    shopify_settings: Settings, shop: int, run_worker: object
) -> None:
    from datetime import timedelta

    from integration.contract import CustomerRecord
    from integration.ingest import ingest_customers
    from integration.store.models import StoreCustomer
    from integration.store.types import utcnow

    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        ingest_customers(
            session,
            store,
            [
                CustomerRecord(
                    external_id="1", email="ada@example.com", updated_at=utcnow() - timedelta(hours=1)
                )
            ],
        )
        session.scalars(select(StoreCustomer)).one().linked_at = utcnow() - timedelta(hours=1)
        store.reconciled_at = utcnow()
        session.add(Backfill(store_id=shop, stage="customers", status="completed"))
    node = json.loads(CUSTOMERS_JSONL.splitlines()[0])
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json={"data": {"nodes": [node]}})
        counts = shopify_upkeep_job()
        assert counts["consent_reads"] == 1
        run_worker()  # type: ignore[operator]
        assert json.loads(mock.calls[0].request.body)["variables"]["ids"] == ["gid://shopify/Customer/1"]
    with session_scope(shopify_settings.database_url) as session:
        ada = session.scalars(select(Contact)).one()
        assert (ada.subscription_status, ada.subscription_reason) == (
            SubscriptionStatus.SUBSCRIBED,
            "shopify_customer",
        )
    assert shopify_upkeep_job()["consent_reads"] == 0


# --- stages Shopify refuses -------------------------------------------------------------------


def test_every_stage_runs_against_shopify_checking_its_bulk_query(
    shopify_settings: Settings, shop: int
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        started = _bulk_api(
            mock,
            {"customers": CUSTOMERS_JSONL, "orders": ORDERS_JSONL, "checkouts": CHECKOUTS_JSONL},
            schema_checked=True,
        )
        assert start_backfill_job(shop) is not None
        for stage in ("customers", "orders", "checkouts"):
            with session_scope(shopify_settings.database_url) as session:
                stage_id = session.scalars(select(Backfill.id).where(Backfill.stage == stage)).one()
            assert continue_backfill_job(stage_id) == "completed"
        assert started == ["customers", "orders", "checkouts"]
    with session_scope(shopify_settings.database_url) as session:
        assert {b.stage: (b.status, b.error) for b in session.scalars(select(Backfill))} == {
            "customers": ("completed", None),
            "orders": ("completed", None),
            "checkouts": ("completed", None),
        }
        checkout = session.scalars(select(Checkout)).one()
        assert [(i.title, i.quantity, i.unit_price) for i in checkout.line_items] == [
            ("Wool hat", 1, Decimal("120.00"))
        ]


REFUSALS = {
    "invalid bulk query": {
        "data": {
            "bulkOperationRunQuery": {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "field": ["query"],
                        "message": "Invalid bulk query: Field 'totalDiscountSet' doesn't exist on type "
                        "'AbandonedCheckoutLineItem'",
                        "code": "INVALID",
                    }
                ],
            }
        }
    },
    "invalid document": {
        "errors": [
            {
                "message": "Field 'bulkOperationRunQuery' doesn't accept argument 'groupObjects'",
                "locations": [{"line": 3, "column": 42}],
                "path": ["mutation", "bulkOperationRunQuery", "groupObjects"],
                "extensions": {
                    "code": "argumentNotAccepted",
                    "name": "bulkOperationRunQuery",
                    "typeName": "Field",
                    "argumentName": "groupObjects",
                },
            }
        ]
    },
    "missing access scope": {
        "errors": [
            {
                "message": "Access denied for customers field. "
                "Required access: `read_customers` access scope.",
                "locations": [{"line": 2, "column": 3}],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": "`read_customers` access scope.",
                },
            }
        ]
    },
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_stage_shopify_refuses_for_good_fails_with_its_error_in_status_and_api(
    shopify_settings: Settings,
    shop: int,
    shopify_client: object,
    monkeypatch: pytest.MonkeyPatch,
    refusal: str,
) -> None:
    from datetime import timedelta

    from click.testing import CliRunner

    import jobs.shopify
    from integration.accounts import create_api_key
    from integration.cli import cli

    answer = REFUSALS[refusal]
    message = (answer.get("errors") or answer["data"]["bulkOperationRunQuery"]["userErrors"])[0]["message"]
    with responses.RequestsMock() as mock:
        mock.post(GRAPHQL, json=answer)
        started = CliRunner().invoke(cli, ["shopify", "backfill", str(shop), "--now"])
        assert len(mock.calls) == 1
    assert started.exit_code == 1
    assert "Shopify refused its first stage" in started.output
    assert message in started.output
    with session_scope(shopify_settings.database_url) as session:
        stage = session.scalars(select(Backfill)).one()
        backfill_id = stage.id
        assert (stage.stage, stage.status, stage.finished_at is not None) == ("customers", "failed", True)
        assert message in (stage.error or "")
        store = session.get(Store, shop)
        assert store is not None
        _, key = create_api_key(session, store.account_id)

    # Not started again: neither by the job's retry nor by the upkeep.
    monkeypatch.setattr(jobs.shopify, "POLL_AFTER", timedelta(0))
    with responses.RequestsMock() as mock:
        assert shopify_upkeep_job()["resumed"] == 0
        assert continue_backfill_job(backfill_id) == "failed"
        assert len(mock.calls) == 0

    text = CliRunner().invoke(cli, ["shopify", "status", str(shop)])
    assert text.exit_code == 0, text.output
    assert "customers  failed" in text.output
    assert message in text.output
    shown = CliRunner().invoke(cli, ["shopify", "status", str(shop), "--json"])
    [stage_json] = json.loads(shown.output)["backfill"]
    assert (stage_json["stage"], stage_json["status"]) == ("customers", "failed")
    assert message in stage_json["error"]

    answered = shopify_client.get(  # type: ignore[attr-defined]
        f"/api/v1/stores/{shop}/backfill", headers={"Authorization": f"Bearer {key}"}
    )
    assert answered.status_code == 200
    [stage_api] = answered.get_json()["backfill"]
    assert (stage_api["stage"], stage_api["status"], stage_api["error"]) == (
        "customers",
        "failed",
        stage_json["error"],
    )


RETRIABLE = {
    "rate limited": {"status": 429, "headers": {"Retry-After": "0"}, "body": ""},
    "server error": {"status": 502, "body": ""},
    "limit reached": {
        "json": {
            "data": {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [
                        {
                            "field": None,
                            "message": "Bulk operations limit reached. Please try again later.",
                            "code": "LIMIT_REACHED",
                        }
                    ],
                }
            }
        }
    },
}


@pytest.mark.parametrize("trouble", list(RETRIABLE))
def test_a_stage_shopify_cannot_start_now_stays_pending_and_is_started_later(
    shopify_settings: Settings, shop: int, run_worker: object, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    from datetime import timedelta

    import jobs.shopify
    from integration.errors import RetriableConnectorError

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(GRAPHQL, **RETRIABLE[trouble])  # type: ignore[arg-type]
        with pytest.raises(RetriableConnectorError):
            start_backfill_job(shop)
    with session_scope(shopify_settings.database_url) as session:
        stage = session.scalars(select(Backfill)).one()
        assert (stage.status, stage.error) == ("pending", None)

    monkeypatch.setattr(jobs.shopify, "POLL_AFTER", timedelta(0))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        started = _bulk_api(mock, {})
        assert shopify_upkeep_job()["resumed"] == 1
        run_worker()  # type: ignore[operator]
        assert started == ["customers"]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Backfill.status)).one() == "running"


# --- one checkout, read in bulk and delivered by webhook ---------------------------------------


def _abandoned_checkout_lines(webhook: dict[str, Any], url: str) -> str:
    """The bulk result of the checkouts stage for the checkout of a `checkouts/create` delivery."""
    customer = webhook["customer"]
    node = {
        "id": "gid://shopify/AbandonedCheckout/981820079255243537",
        "abandonedCheckoutUrl": url,
        "createdAt": "2026-07-10T15:00:00Z",
        "updatedAt": "2026-07-10T15:05:00Z",  # read a little after the delivery: the newer version
        "completedAt": None,
        "totalPriceSet": {"shopMoney": {"amount": webhook["total_price"], "currencyCode": "USD"}},
        "customer": {
            "id": customer["admin_graphql_api_id"],
            "defaultEmailAddress": {"emailAddress": customer["email"]},
        },
    }
    [item] = webhook["line_items"]
    line = {
        "id": "gid://shopify/LineItem/200",
        "title": item["title"],
        "quantity": item["quantity"],
        "sku": item["sku"],
        "variantTitle": None,
        "originalUnitPriceSet": {"shopMoney": {"amount": item["price"], "currencyCode": "USD"}},
        "product": {"id": f"gid://shopify/Product/{item['product_id']}"},
        "variant": {"id": f"gid://shopify/ProductVariant/{item['variant_id']}"},
        "__parentId": node["id"],
    }
    return json.dumps(node) + "\n" + json.dumps(line) + "\n"


def _backfill(settings: Settings, shop: int, checkouts: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _bulk_api(mock, {"customers": "", "orders": "", "checkouts": checkouts})
        assert start_backfill_job(shop) is not None
        for stage in ("customers", "orders", "checkouts"):
            with session_scope(settings.database_url) as session:
                stage_id = session.scalars(select(Backfill.id).where(Backfill.stage == stage)).one()
            assert continue_backfill_job(stage_id) == "completed"


@pytest.mark.parametrize("arrival", ["backfill only", "backfill first", "webhook first"])
@pytest.mark.parametrize("form", ["cart token", "checkout token"])
def test_a_backfilled_checkout_is_the_checkout_its_webhook_and_its_order_name(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: Any, form: str, arrival: str
) -> None:
    from integration.commerce.carts import mark_abandoned
    from tests.support.shopify import payload

    webhook = payload("checkouts_create")
    token, cart = webhook["token"], webhook["cart_token"]
    # Real shops' recovery URLs name the cart (`/checkouts/ac/<cart token>/recover`); Shopify's
    # sample payload names the checkout (`/checkouts/<token>/recover`).
    url = (
        f"https://{SHOP}/548380009/checkouts/ac/{cart}/recover?key=0385163be3875d3a&locale=en-US"
        if form == "cart token"
        else f"https://{SHOP}/548380009/checkouts/{token}/recover?key=example-secret-token"
    )
    webhook["abandoned_checkout_url"] = url
    lines = _abandoned_checkout_lines(webhook, url)

    if arrival == "webhook first":
        deliver("checkouts/create", webhook)
        run_worker()
    _backfill(shopify_settings, shop, lines)
    if arrival == "backfill first":
        deliver("checkouts/create", webhook)
        run_worker()

    with session_scope(shopify_settings.database_url) as session:
        checkout = session.scalars(select(Checkout)).one()  # one checkout, however it arrived
        known = (checkout.token, checkout.cart_token)
        assert checkout.updated_at.isoformat() == "2026-07-10T15:05:00+00:00"  # the newer version won
        assert [i.sku for i in checkout.line_items] == ["IPOD2008PINK"]
        assert checkout.recovery_url == url
        assert mark_abandoned(session) == 1
    if arrival == "backfill only" and form == "cart token":
        assert known == (cart, cart)  # the checkout's own token is not known yet
    elif arrival == "backfill only":
        assert known == (token, None)
    else:
        assert known == (token, cart)

    # The order that completes it (Shopify's sample order, placed from this checkout's cart).
    order = payload("orders_create")
    order.update(checkout_token=token, cart_token=cart)
    deliver("orders/create", order)
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        checkout = session.scalars(select(Checkout)).one()
        placed = session.scalars(select(Order)).one()
        assert (checkout.state, checkout.recovered_by_order_id) == (CheckoutState.RECOVERED, placed.id)
        assert checkout.recovery_rule == ("cart_token" if known[0] == cart else "checkout_token")

    # A later update of the checkout by webhook (Shopify's, reporting it completed by that order)
    # still finds the same checkout, and tells no activity of the buyer that would undo the recovery.
    webhook["updated_at"] = webhook["completed_at"] = "2026-07-10T13:00:00-04:00"
    deliver("checkouts/update", webhook)
    run_worker()
    with session_scope(shopify_settings.database_url) as session:
        checkout = session.scalars(select(Checkout)).one()
        assert (checkout.token, checkout.cart_token, checkout.state) == (token, cart, CheckoutState.RECOVERED)
