"""The storefront collector (`POST /collect`): what it refuses and stores, its CORS answers, its
limits, and a product view reaching a contact's engagement through the real worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.storefront.schemas import origin_of
from integration.accounts import add_store, create_account
from integration.contacts import engagement
from integration.ingest import ingest_customers
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Contact,
    EngagementStatus,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    Platform,
    Store,
    Visitor,
)
from integration.web.app import create_app
from jobs.ingest import process_inbox_job
from tests.support.builders import customer
from webhooks.collector import KEY_CACHE_SECONDS, MAX_BODY_BYTES, KeyCache, KeyHolder

SHOP = "pulse-demo.myshopify.com"
SITE = "https://shop.example.com"


@pytest.fixture
def stores(settings: Settings) -> dict[str, Any]:
    """A Shopify store with one customer (Ann, id 101, unengaged) and a snippet store listing SITE."""
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Pulse", "Europe/Warsaw").id
        shopify = add_store(
            session, account, platform=Platform.SHOPIFY, name="Pulse", currency="EUR", shop_domain=SHOP
        )
        site = add_store(session, account, platform=Platform.API, name="Site", currency="EUR")
        site.allowed_origins = [SITE]
        old = datetime.now(UTC) - timedelta(days=400)
        ingest_customers(session, shopify, [customer("101", "ann@example.com", old)])
        session.flush()
        engagement.classify(session, account, set(session.scalars(select(Contact.id))))
        return {
            "shopify": shopify.id,
            "shopify_key": shopify.public_key,
            "site": site.id,
            "site_key": site.public_key,
            "ann": session.scalar(select(Contact.id)),
        }


def _now(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def event(event_id: str = "e1", kind: str = "product_view", **kwargs: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "at": _now(),
        "visitor": "client-1",
        "product_id": "gid://shopify/Product/42",
        **kwargs,
    }


def pixel(key: str, *events: dict[str, Any], shop: str = SHOP) -> str:
    return json.dumps({"key": key, "shop": shop, "source": "shopify_pixel", "events": list(events)})


def snippet(key: str, *events: dict[str, Any]) -> str:
    return json.dumps({"key": key, "source": "snippet", "events": list(events)})


def post(client: FlaskClient, body: str | bytes, origin: str | None = None) -> Any:
    headers = {"Content-Type": "text/plain"}
    if origin:
        headers["Origin"] = origin
    return client.post("/collect", data=body, headers=headers)


def _deliveries(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return (
            session.scalar(
                select(func.count()).select_from(InboxDelivery).where(InboxDelivery.source == "storefront")
            )
            or 0
        )


def test_a_pixel_batch_is_stored_once_and_answered_for_any_origin(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    body = pixel(stores["shopify_key"], event("e1"), event("e2", "page_view", product_id=None))
    first = post(client, body, origin="https://extensions.shopifycdn.com")
    assert first.status_code == 202
    assert first.get_json() == {"accepted": 2, "refused": []}
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in first.headers
    assert post(client, body).status_code == 202  # no Origin at all: Shopify's sandbox may send none
    assert _deliveries(settings) == 1  # the same bytes with the same key: one delivery
    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(InboxDelivery).where(InboxDelivery.source == "storefront")).one()
        assert (stored.store_id, stored.topic, stored.body) == (stores["shopify"], "events", body.encode())


def test_a_product_view_makes_an_unengaged_contact_engaged_through_the_worker(
    client: FlaskClient, settings: Settings, stores: dict[str, Any], run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        assert session.get(Contact, stores["ann"]).engagement_status == EngagementStatus.UNENGAGED
    answer = post(
        client,
        pixel(
            stores["shopify_key"],
            event("e1", "page_view", product_id=None, customer_id="gid://shopify/Customer/101"),
            event("e2", "product_view", customer_id="gid://shopify/Customer/101"),
        ),
    )
    assert answer.status_code == 202
    assert run_worker()  # the store's drain, queued by the collector
    with session_scope(settings.database_url) as session:
        ann = session.get(Contact, stores["ann"])
        assert ann.engagement_status == EngagementStatus.ENGAGED
        assert ann.engagement_reason == "product_view"
        view = session.scalars(select(InteractionEvent).where(InteractionEvent.source == "storefront")).one()
        assert (view.contact_id, view.product_id) == (stores["ann"], "42")
        assert session.scalars(select(InboxDelivery.status)).all() == [InboxStatus.PROCESSED]


def test_a_checkout_ties_the_browser_and_its_earlier_views_count_then(
    client: FlaskClient, settings: Settings, stores: dict[str, Any], run_worker: Any
) -> None:
    key = stores["shopify_key"]
    assert post(client, pixel(key, event("e1", visitor="browser-9"))).status_code == 202
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 0
    completed = event(
        "e2", "checkout_completed", visitor="browser-9", product_id=None, checkout_token="tok-1",
        customer_id="gid://shopify/Customer/101", order_id="gid://shopify/Order/5",
    )  # fmt: skip
    assert post(client, pixel(key, completed)).status_code == 202
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(InteractionEvent.contact_id)).all() == [stores["ann"]]
        assert session.scalars(select(Visitor.tied_by)).all() == ["customer"]
        assert session.get(Contact, stores["ann"]).engagement_status == EngagementStatus.ENGAGED


def test_the_snippet_is_taken_only_from_the_stores_origins(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    body = snippet(stores["site_key"], event(product_id="sku-1"))
    refused = post(client, body, origin="https://evil.example.net")
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert post(client, body).status_code == 403  # no origin: not a page of the shop
    taken = post(client, body, origin="HTTPS://Shop.Example.com:443")
    assert taken.status_code == 202
    assert taken.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in taken.headers["Vary"]
    assert _deliveries(settings) == 1


def test_an_unknown_or_disconnected_key_is_refused_and_nothing_is_stored(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    unknown = post(client, pixel("pk_nobody", event()))
    assert (unknown.status_code, unknown.get_json()["code"]) == (401, "unknown_key")
    wrong_shop = post(client, pixel(stores["shopify_key"], event(), shop="other.myshopify.com"))
    assert (wrong_shop.status_code, wrong_shop.get_json()["code"]) == (403, "wrong_shop")
    with session_scope(settings.database_url) as session:
        session.get(Store, stores["site"]).state = "disconnected"  # type: ignore[assignment]
    gone = post(client, snippet(stores["site_key"], event()), origin=SITE)  # not read before: refused now
    assert (gone.status_code, gone.get_json()["code"]) == (401, "unknown_key")
    assert _deliveries(settings) == 0


def test_the_process_trusts_what_it_read_of_a_key_for_ten_seconds(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    """A web process remembers a key's store for KEY_CACHE_SECONDS: a disconnection (or a newly
    listed origin) reaches it within that time, and until then no batch asks the database who sent it."""
    clock, new_site = [1000.0], "https://new.example"
    client.application.extensions["storepulse.collector.keys"] = KeyCache(clock=lambda: clock[0])
    assert post(client, pixel(stores["shopify_key"], event("a"))).status_code == 202
    assert post(client, snippet(stores["site_key"], event("b")), origin=SITE).status_code == 202
    with session_scope(settings.database_url) as session:
        session.get(Store, stores["shopify"]).state = "disconnected"  # type: ignore[assignment]
        session.get(Store, stores["site"]).allowed_origins = [new_site]
    clock[0] += KEY_CACHE_SECONDS - 0.5
    assert post(client, pixel(stores["shopify_key"], event("c"))).status_code == 202
    assert post(client, snippet(stores["site_key"], event("d")), origin=new_site).status_code == 403
    clock[0] += 1
    assert post(client, pixel(stores["shopify_key"], event("e"))).status_code == 401
    assert post(client, snippet(stores["site_key"], event("f")), origin=new_site).status_code == 202
    assert post(client, snippet(stores["site_key"], event("g")), origin=SITE).status_code == 403
    assert _deliveries(settings) == 4


def test_the_key_cache_forgets_the_least_recently_used_key_first() -> None:
    reads: list[str] = []

    def read(key: str) -> KeyHolder | None:
        reads.append(key)
        return None if key == "pk_none" else KeyHolder(len(reads), Platform.API, None, ())

    cache = KeyCache(size=2, clock=lambda: 0.0)
    for key in ("pk_a", "pk_none", "pk_a", "pk_b", "pk_none", "pk_a"):
        cache.get(key, read)
    # pk_none (answered "no store" and remembered like a store) was the least recently used when pk_b came
    assert reads == ["pk_a", "pk_none", "pk_b", "pk_none", "pk_a"]
    assert list(cache.entries) == ["pk_none", "pk_a"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (json.dumps({"source": "snippet", "events": []}).encode(), "key:"),
        (json.dumps({"key": "pk_x", "source": "nope", "events": []}).encode(), "source:"),
        (json.dumps({"key": "pk_x", "source": "snippet", "events": {}}).encode(), "events:"),
        (json.dumps({"key": "pk_x", "source": "snippet", "events": [{}] * 51}).encode(), "at most 50"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"[" * 60_000, "nests too deeply"),
    ],
)
def test_a_malformed_batch_is_refused_with_its_reason(
    client: FlaskClient, settings: Settings, stores: dict[str, Any], body: bytes, reason: str
) -> None:
    answer = post(client, body)
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "malformed"
    assert reason in answer.get_json()["message"]
    assert _deliveries(settings) == 0


def test_an_oversize_body_is_refused_before_it_is_read(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    body = pixel(stores["shopify_key"], event(title="x" * 300))
    padded = body[:-2] + " " * (MAX_BODY_BYTES - len(body) + 1) + body[-2:]
    assert post(client, padded).status_code == 413
    assert post(client, padded.replace(" " * 2, " ", 1)).status_code == 202  # one byte less: taken
    assert _deliveries(settings) == 1


def test_each_bad_event_is_refused_by_index_and_the_good_ones_kept(
    client: FlaskClient, settings: Settings, stores: dict[str, Any], run_worker: Any
) -> None:
    events = [
        event("e0", customer_id="101"),
        event("e1", at=_now(6)),  # more than five minutes ahead
        event("e2", at=_now(-60 * 25)),  # more than a day old
        event("e3", kind="purchase"),  # no such type
        event("e4", product_id=None),  # a product view names its product
        event("e5", kind="identify", product_id=None),  # an identify carries its address
        event("e6", price="-1"),
        event("e7", quantity=1.5),
        event("e8", at="yesterday"),
        {"type": "page_view"},
        event("e10", kind="add_to_cart", at=_now(4), quantity=2, price="19.90", currency="pln"),
    ]
    answer = post(client, pixel(stores["shopify_key"], *events))
    assert answer.status_code == 202
    payload = answer.get_json()
    assert payload["accepted"] == 2
    refused = {r["index"]: r["errors"] for r in payload["refused"]}
    assert sorted(refused) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert "minutes after its receipt" in refused[1]["at"][0]
    assert "a day before its receipt" in refused[2]["at"][0]
    assert set(refused[3]) == {"type"}
    assert [set(refused[i]) for i in (4, 5, 6, 7)] == [{"product_id"}, {"email"}, {"price"}, {"quantity"}]
    assert set(refused[9]) == {"id", "at", "visitor"}
    run_worker()
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.PROCESSED
        assert [s["index"] for s in delivery.result["skipped"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
        rows = session.execute(select(InteractionEvent.type, InteractionEvent.attributes)).all()
    kinds = {kind.value: attributes for kind, attributes in rows}
    assert set(kinds) == {"product_view", "add_to_cart"}
    assert (kinds["add_to_cart"]["price"], kinds["add_to_cart"]["currency"]) == ("19.90", "PLN")


def test_a_batch_with_no_valid_event_is_refused_and_stores_nothing(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    answer = post(client, pixel(stores["shopify_key"], event(at=_now(30)), event(kind="nope")))
    assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_events")
    assert [r["index"] for r in answer.get_json()["details"]["events"]] == [0, 1]
    assert post(client, pixel(stores["shopify_key"])).get_json() == {"accepted": 0, "refused": []}
    assert _deliveries(settings) == 0


def _limited_client(settings: Settings, **limits: Any) -> FlaskClient:
    overrides = {
        name: getattr(settings, name)
        for name in ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")
    }
    app: Flask = create_app({**overrides, **limits})
    app.testing = True
    return app.test_client()


def test_each_address_and_each_key_has_its_own_limit(settings: Settings, stores: dict[str, Any]) -> None:
    client = _limited_client(
        settings,
        collect_rate_per_address=0.01,
        collect_burst_per_address=3,
        collect_rate_per_key=0.01,
        collect_burst_per_key=5,
    )
    key = stores["shopify_key"]

    def from_address(address: str, n: int) -> list[int]:
        return [
            client.post(
                "/collect", data=pixel(key, event(f"{address}-{i}")), environ_base={"REMOTE_ADDR": address}
            ).status_code
            for i in range(n)
        ]

    assert from_address("203.0.113.1", 4) == [202, 202, 202, 429]
    limited = client.post(
        "/collect", data=pixel(key, event("x")), environ_base={"REMOTE_ADDR": "203.0.113.1"}
    )
    assert limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert from_address("203.0.113.2", 3) == [202, 202, 429]  # the key's five are spent now
    assert _deliveries(settings) == 5


def test_behind_a_trusted_proxy_the_limit_sees_the_clients_address(
    settings: Settings, stores: dict[str, Any]
) -> None:
    client = _limited_client(
        settings, trusted_proxies=1, collect_rate_per_address=0.01, collect_burst_per_address=1
    )
    key = stores["shopify_key"]

    def via_proxy(forwarded: str, event_id: str) -> int:
        return client.post(
            "/collect",
            data=pixel(key, event(event_id)),
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        ).status_code

    assert via_proxy("198.51.100.1", "a") == 202
    assert via_proxy("198.51.100.2", "b") == 202  # another client behind the same proxy
    assert via_proxy("198.51.100.1", "c") == 429
    # A forged entry in front of the proxy's own changes nothing: the proxy's entry is the last.
    assert via_proxy("1.2.3.4, 198.51.100.1", "d") == 429


def test_a_preflight_is_answered_for_a_json_client(client: FlaskClient) -> None:
    answer = client.options(
        "/collect",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "Content-Type"


def test_the_worker_reads_the_times_against_the_receipt_not_its_own_clock(
    client: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    """A delivery processed a day later keeps its events: they were sane when they came."""
    assert post(client, pixel(stores["shopify_key"], event(customer_id="101"))).status_code == 202
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        delivery.received_at -= timedelta(hours=30)
        body = json.loads(delivery.body)
        body["events"][0]["at"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
        delivery.body = json.dumps(body).encode()
        delivery_id = delivery.id
    process_inbox_job([delivery_id])
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(InteractionEvent)) == 1


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://Shop.Example.com", "https://shop.example.com"),
        ("https://shop.example.com:443/", "https://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://shop.example.com/path", None),
        ("ftp://shop.example.com", None),
        ("shop.example.com", None),
        ("https://user@shop.example.com", None),
        ("https://shop.example.com:99999", None),
        ("null", None),
    ],
)
def test_origins_are_compared_as_browsers_send_them(given: str, origin: str | None) -> None:
    assert origin_of(given) == origin


def test_the_snippet_is_served_for_a_week_of_caching(client: FlaskClient) -> None:
    with client.get("/storepulse.js") as answer:
        assert answer.status_code == 200
        assert answer.mimetype == "text/javascript"
        assert answer.headers["Cache-Control"] == "public, max-age=604800"
        assert b'source: "snippet"' in answer.data
        etag = answer.headers["ETag"]
    with client.get("/storepulse.js", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304
