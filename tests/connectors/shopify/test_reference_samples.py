"""Shopify's published sample of every subscribed topic, signed, through the web app and a real worker.

The samples (tests/fixtures/shopify/reference/, sources in the README beside them) are posted
unchanged; each step checks what the API then shows. Forged copies are refused and store nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import func, select

from connectors.shopify.setup import WEBHOOK_TOPICS
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxDelivery
from integration.store.types import utcnow
from tests.support.shopify import FIXTURES, SHOP, Deliver

SAMPLES = FIXTURES / "reference"
GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"
COMPLIANCE = tomllib.loads((Path(__file__).parents[3] / "shopify.app.toml").read_text())["webhooks"][
    "subscriptions"
][0]["compliance_topics"]
TOPICS = sorted({*WEBHOOK_TOPICS.values(), *COMPLIANCE})

Api = Callable[[str], Any]


# The webhook reference's refunds/create sample could not be copied (see the README): the topic
# delivers the Refund resource, so Shopify's REST example of that resource stands in for it.
OTHER_SAMPLES = {"refunds/create": (FIXTURES / "refund.json", "refund")}


def sample_file(topic: str) -> Path:
    """A topic's fixture: `orders/create` → orders_create.json, `a.b/c` → a_b_c.json."""
    if topic in OTHER_SAMPLES:
        return OTHER_SAMPLES[topic][0]
    return SAMPLES / (topic.replace("/", "_").replace(".", "_") + ".json")


def sample(topic: str) -> bytes:
    if topic in OTHER_SAMPLES:
        path, key = OTHER_SAMPLES[topic]
        return json.dumps(json.loads(path.read_bytes())[key]).encode()
    return sample_file(topic).read_bytes()


@pytest.fixture
def shopify_graphql() -> Iterator[responses.RequestsMock]:
    """Shopify's answer to the read of a new customer's consent and tags: no such customer."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(GRAPHQL, json={"data": {"nodes": [None]}})
        yield mock


def _contacts(shop_api: Api, search: str) -> list[dict[str, Any]]:
    return list(shop_api(f"/api/v1/contacts?q={search}")["contacts"])


def test_there_is_a_published_sample_for_every_subscribed_topic() -> None:
    assert len(TOPICS) == 21
    assert [t for t in TOPICS if not sample_file(t).exists()] == []
    for topic in TOPICS:
        assert isinstance(json.loads(sample(topic)), dict)


@pytest.mark.parametrize("topic", TOPICS)
def test_a_forged_copy_of_each_sample_answers_401_and_stores_nothing(
    topic: str, shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    body = sample(topic)
    assert deliver(topic, body, secret="shpss_not_the_app_secret").status_code == 401  # noqa: S106
    assert deliver(topic, body, headers={"X-Shopify-Hmac-Sha256": None}).status_code == 401
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 0


def test_every_published_sample_does_what_its_topic_means(
    shopify_settings: Settings,
    shop: int,
    deliver: Deliver,
    run_worker: Callable[[], bool],
    shop_api: Api,
    shopify_graphql: responses.RequestsMock,
) -> None:
    delivered: list[str] = []

    def post(topic: str, body: bytes | None = None, **headers: Any) -> None:
        answer = deliver(topic, sample(topic) if body is None else body, **headers)
        assert answer.status_code == 200, (topic, answer.get_json())
        delivered.append(topic)
        run_worker()

    # customers/create: Bob Biller is a contact. customers/update: the same version changes nothing.
    post("customers/create")
    post("customers/update")
    [bob] = _contacts(shop_api, "bob@biller.com")
    assert (bob["first_name"], bob["last_name"]) == ("Bob", "Biller")

    # The consent sample says not_subscribed, with no change time: the delivery's trigger time counts.
    post("customers_email_marketing_consent/update", triggered_at="2026-07-10T16:15:47Z")
    [bob] = _contacts(shop_api, "bob@biller.com")
    assert bob["subscription"] == {
        "status": "unknown",
        "changed_at": "2026-07-10T16:15:47+00:00",
        "reason": "shopify_consent",
    }

    # The tag samples name customer 1: once Shopify's customer 1 (Bob's address) is known, they apply.
    customer_one = json.loads(sample("customers/create"))
    customer_one["id"] = 1
    post("customers/create", json.dumps(customer_one).encode())
    post("customer.tags_added")
    assert _contacts(shop_api, "bob@biller.com")[0]["tags"] == ["tag1", "tag2"]
    post("customer.tags_removed")
    assert _contacts(shop_api, "bob@biller.com")[0]["tags"] == []

    # Kept and acknowledged: storepulse computes the customer's spend from its orders.
    post("customers/purchasing_summary")

    # The order sample is voided and cancelled: John Smith's contact shows it, as no revenue.
    for topic in ("orders/create", "orders/updated", "orders/paid", "orders/cancelled"):
        post(topic)
    [john] = _contacts(shop_api, "john@example.com")
    profile = shop_api(f"/api/v1/contacts/{john['id']}")
    assert profile["orders_count"] == 1
    [order] = profile["orders"]
    assert (order["name"], order["total_price"], order["currency"]) == ("#9999", "404.95", "USD")
    assert order["status"] == "cancelled"
    assert shop_api("/api/v1/summary")["orders"]["revenue"] == []

    # The checkout sample: kept by its token, with its total and line items (seen in the data export).
    post("checkouts/create")
    post("checkouts/update")
    post("customers/data_request")
    [request] = shop_api("/api/v1/data-requests")
    assert (request["request_id"], request["customer_id"]) == ("9999", "191167")
    document = shop_api(f"/api/v1/data-requests/{request['id']}")["document"]
    assert document["contact"]["email"] == "john@example.com"
    assert [o["id"] for o in document["orders"]] == ["820982911946154508"]
    assert sorted(i["sku"] for i in document["orders"][0]["line_items"]) == [
        "CASE-LEATHER-PREM",
        "LENS-PROTECT-2YR",
        "SKU2006-001",
        "SKU2006-020",
        "SKU2006-035",
    ]

    # refunds/create: Shopify's example refund (209.00) of its example order #1001, delivered before
    # the order, which lists the same refund: it comes off the order's revenue once, not twice.
    post("refunds/create")
    post(
        "orders/create",
        json.dumps(
            json.loads((FIXTURES / "orders_partially_refunded.json").read_bytes())["orders"][0]
        ).encode(),
    )
    [refunded] = [
        o for o in shop_api("/api/v1/orders?from=2000-01-01&to=2099-12-31")["orders"] if o["name"] == "#1001"
    ]
    assert (refunded["total_price"], refunded["total_refunded"], refunded["net_total"]) == (
        "598.94",
        "209.00",
        "389.94",
    )
    assert shop_api("/api/v1/summary")["orders"]["revenue"] == [
        {"currency": "USD", "orders": 1, "amount": "389.94"}
    ]

    # checkouts/delete names the checkout by its cart token; orders/delete by the order id.
    post("checkouts/delete")
    post("orders/delete")
    assert shop_api(f"/api/v1/contacts/{john['id']}")["orders_count"] == 0

    post("bulk_operations/finish")  # no bulk read of this shop is running: nothing to continue
    assert shop_api(f"/api/v1/stores/{shop}/backfill")["backfill"] == []

    # customers/redact erases John (found by the sample's email); customers/delete removes Bob.
    post("customers/redact")
    assert _contacts(shop_api, "john@example.com") == []
    assert shop_api("/api/v1/data-requests") == []
    post("customers/delete", triggered_at="2026-07-12T00:00:00Z")
    assert _contacts(shop_api, "bob@biller.com") == []

    post("app/uninstalled", triggered_at=utcnow().isoformat())
    assert shop_api(f"/api/v1/stores/{shop}/backfill")["state"] == "disconnected"
    post("shop/redact")
    assert shop_api("/api/v1/summary")["contacts"]["total"] == 0

    assert sorted(set(delivered)) == TOPICS
    with session_scope(shopify_settings.database_url) as session:
        statuses = dict(
            session.execute(select(InboxDelivery.status, func.count()).group_by(InboxDelivery.status)).all()
        )
    assert {s.value: n for s, n in statuses.items()} == {"processed": len(delivered)}
