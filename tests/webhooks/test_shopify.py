"""The Shopify webhook endpoint: verify, store once, enqueue, answer; then the worker normalizes."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rq.serializers import JSONSerializer
from sqlalchemy import event, func, select

from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import Contact, InboxDelivery, InboxStatus, Order, OrderLineItem, StoreCustomer
from integration.store.redis import connection, forget_connections
from integration.web.app import create_app
from jobs.queues import QUEUES
from tests.support.servers import redis_server
from tests.support.shopify import OLD_SECRET, SECRET, SHOP, Deliver, connect_shop, payload, raw
from tests.support.workers import DrainingWorker
from webhooks.signatures import shopify_sign_body

COMPLIANCE = ["customers/data_request", "customers/redact", "shop/redact"]


def _count(settings: Settings, model: type) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_order_delivered_three_times_is_one_order_with_its_line_items_and_contact(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    body = raw("orders_create")
    answers = [deliver("orders/create", body, webhook_id="wh-1").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    run_worker()  # type: ignore[operator]

    assert _count(shopify_settings, InboxDelivery) == 1
    with session_scope(shopify_settings.database_url) as session:
        order = session.scalars(select(Order)).one()
        assert (order.external_id, order.name, order.number) == ("820982911946154508", "#9999", "1234")
        assert order.total_price == Decimal("403.00")
        assert order.currency == "USD"
        assert order.total_shipping == Decimal("10.00")
        assert order.checkout_token == "123123123"
        assert order.created_at.isoformat() == "2026-07-10T16:00:00+00:00"
        items = session.scalars(select(OrderLineItem).where(OrderLineItem.order_id == order.id)).all()
        assert [(i.sku, i.quantity, i.unit_price, i.product_id) for i in items] == [
            ("IPOD2008PINK", 1, Decimal("199.00"), "632910392")
        ] * 2
        # The order's customer decides the contact: its email, not the order's own.
        contact = session.get(Contact, order.contact_id)
        assert contact is not None
        assert contact.email == "john@example.com"
        link = session.scalars(select(StoreCustomer)).one()
        assert (link.external_id, link.contact_id) == ("115310627314723954", contact.id)
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.PROCESSED
        assert delivery.event_id
        assert delivery.triggered_at is not None
        assert delivery.signature_verified_at == delivery.received_at  # its HMAC was checked


def test_two_deliveries_of_one_change_with_different_ids_still_make_one_order(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    deliver("orders/create", raw("orders_create"))
    deliver("orders/paid", raw("orders_create"))
    run_worker()  # type: ignore[operator]
    assert _count(shopify_settings, InboxDelivery) == 2
    assert _count(shopify_settings, Order) == 1
    assert _count(shopify_settings, OrderLineItem) == 2


def test_an_older_update_arriving_after_a_newer_one_changes_nothing(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    newer = payload("orders_create")
    newer.update(updated_at="2026-07-11T09:00:00-04:00", financial_status="refunded")
    older = payload("orders_create")
    older.update(updated_at="2026-07-10T13:00:00-04:00", financial_status="partially_refunded")
    deliver("orders/updated", newer)
    run_worker()  # type: ignore[operator]
    deliver("orders/updated", older)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        order = session.scalars(select(Order)).one()
        assert order.financial_status == "refunded"
        assert order.updated_at.isoformat() == "2026-07-11T13:00:00+00:00"


def test_out_of_order_versions_in_one_batch_keep_the_newest(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    versions = []
    for hour, status in ((14, "paid"), (12, "pending"), (13, "authorized")):
        version = payload("orders_create")
        version.update(updated_at=f"2026-07-10T{hour}:00:00-04:00", financial_status=status)
        versions.append(version)
    for version in versions:
        deliver("orders/updated", version)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Order.financial_status)).one() == "paid"
        results = session.scalars(select(InboxDelivery.result)).all()
        assert all(r and r.get("batch") == 3 for r in results)


@pytest.mark.parametrize("topic", ["orders/create", *COMPLIANCE])
@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-app-secret"},
        {"headers": {"X-Shopify-Hmac-Sha256": None}},
        {"headers": {"X-Shopify-Hmac-Sha256": "not base64!"}},
        {"headers": {"X-Shopify-Hmac-Sha256": ""}},
    ],
    ids=["wrong-secret", "missing", "garbage", "empty"],
)
def test_a_forged_or_unsigned_delivery_answers_401_and_stores_nothing(
    shopify_settings: Settings, shop: int, deliver: Deliver, topic: str, forgery: dict
) -> None:
    response = deliver(topic, raw("orders_create"), **forgery)
    assert response.status_code == 401
    assert _count(shopify_settings, InboxDelivery) == 0


def test_a_body_changed_after_signing_is_rejected(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    signature = shopify_sign_body("shpss_current_secret_for_tests", raw("orders_create"))
    tampered = raw("orders_create").replace(b'"403.00"', b'"0.01"')
    response = deliver("orders/create", tampered, headers={"X-Shopify-Hmac-Sha256": signature})
    assert response.status_code == 401
    assert _count(shopify_settings, InboxDelivery) == 0


def test_the_previous_secret_is_accepted_during_a_rotation(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    assert deliver("orders/create", raw("orders_create"), secret=OLD_SECRET).status_code == 200
    assert _count(shopify_settings, InboxDelivery) == 1


def test_an_unknown_shop_is_refused_but_its_compliance_requests_are_acknowledged(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    assert deliver("orders/create", raw("orders_create"), shop="stranger.myshopify.com").status_code == 404
    assert deliver("shop/redact", raw("shop_redact"), shop="stranger.myshopify.com").status_code == 200
    assert deliver("orders/create", raw("orders_create"), shop="evil.example.com").status_code == 400
    assert _count(shopify_settings, InboxDelivery) == 0


def test_malformed_json_is_kept_as_a_failed_delivery_with_its_error(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    assert deliver("orders/create", b'{"id": 1, "line_items": [').status_code == 200
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert delivery.status == InboxStatus.FAILED
        assert delivery.last_error
        assert "not JSON" in delivery.last_error


def test_one_invalid_order_in_a_batch_does_not_hold_back_the_others(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    good = payload("orders_create")
    second = copy.deepcopy(good)
    second.update(id=820982911946154509, name="#10000")
    bad = copy.deepcopy(good)
    bad.update(id=820982911946154510)
    del bad["total_price"]
    for body in (good, bad, second):
        deliver("orders/create", body)
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        statuses = session.scalars(select(InboxDelivery.status).order_by(InboxDelivery.id)).all()
        assert statuses == [InboxStatus.PROCESSED, InboxStatus.FAILED, InboxStatus.PROCESSED]
        failed = session.scalars(
            select(InboxDelivery).where(InboxDelivery.status == InboxStatus.FAILED)
        ).one()
        assert "total_price" in (failed.last_error or "")
    assert _count(shopify_settings, Order) == 2


def test_an_unknown_topic_is_stored_and_acknowledged(
    shopify_settings: Settings, shop: int, deliver: Deliver, run_worker: object
) -> None:
    assert deliver("products/update", {"id": 632910392, "title": "IPod Nano"}).status_code == 200
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert (delivery.topic, delivery.status) == ("products/update", InboxStatus.PROCESSED)


def test_a_delivery_received_while_redis_is_stopped_is_processed_after_it_returns(
    shopify_settings: Settings, shop: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import ingest

    workdir = tmp_path / "redis"
    workdir.mkdir()
    with redis_server(None, workdir) as url:
        settings = replace(shopify_settings, redis_url=url)
    # The server is stopped now: the delivery is stored and acknowledged all the same.
    forget_connections()
    configure(settings)
    client = create_app({"redis_url": url, **_overrides(shopify_settings)}).test_client()
    body = raw("orders_create")
    response = client.post(
        "/webhooks/shopify",
        data=body,
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": shopify_sign_body(SECRET, body),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": "while-redis-was-down",
        },
    )
    assert response.status_code == 200
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(InboxDelivery.status)).one() == InboxStatus.PENDING

    with redis_server(None, workdir) as again:
        assert again == url
        forget_connections()
        monkeypatch.setattr(ingest, "SWEEP_AFTER", timedelta(0))
        assert ingest.sweep_inbox_job() == 1
        worker = DrainingWorker(list(QUEUES), connection=connection(settings), serializer=JSONSerializer)
        worker.work(burst=True, logging_level="WARNING")
        forget_connections()
    assert _count(settings, Order) == 1
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(InboxDelivery.status)).one() == InboxStatus.PROCESSED


def _overrides(settings: Settings) -> dict[str, object]:
    names = (
        "instance_path",
        "database_url",
        "secret_key",
        "encryption_keys",
        "shopify_api_key",
        "shopify_api_secret",
    )
    return {n: getattr(settings, n) for n in names}


def test_the_shop_domain_is_matched_whatever_its_case(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    assert deliver("orders/create", raw("orders_create"), shop=SHOP.upper()).status_code == 200


def test_deliveries_answer_json_errors(shopify_settings: Settings, shop: int, deliver: Deliver) -> None:
    response = deliver("orders/create", raw("orders_create"), headers={"X-Shopify-Topic": None})
    assert response.status_code == 400
    assert json.loads(response.data)


def test_a_shop_is_looked_up_once_and_a_shop_installing_now_is_found_at_its_next_delivery(
    shopify_settings: Settings, deliver: Deliver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each web process remembers a shop's store, so a delivery is one statement (its insert,
    committed as it runs); an unknown shop is not remembered, so an installation counts at once."""
    statements: list[str] = []

    def seen(statement: str) -> None:
        verb = statement.split()[0].upper()
        if verb in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(verb)

    assert deliver("orders/create", raw("orders_create")).status_code == 404  # not installed yet
    store_id = connect_shop(shopify_settings)
    engine = get_engine(shopify_settings.database_url)
    if engine.dialect.name == "postgresql":
        # What reaches the driver, through a session or not (the delivery's insert is not).
        execute = psycopg.Cursor.execute

        def recorded(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            seen(str(query))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    else:

        def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if not statement.startswith("BEGIN"):  # SQLite's own BEGIN IMMEDIATE aside
                seen(statement)

        event.listen(engine, "before_cursor_execute", before)
    try:
        first = deliver("orders/create", raw("orders_create"), webhook_id="w-1")
        after_first = list(statements)
        statements.clear()
        second = deliver("orders/updated", raw("orders_create"), webhook_id="w-2")
    finally:
        monkeypatch.undo()
        if engine.dialect.name != "postgresql":
            event.remove(engine, "before_cursor_execute", before)
    assert (first.status_code, second.status_code) == (200, 200)
    assert after_first == ["SELECT", "INSERT"]  # the shop's store, then the delivery
    assert statements == ["INSERT"]
    with session_scope(shopify_settings.database_url) as session:
        stored = session.scalars(select(InboxDelivery.store_id).order_by(InboxDelivery.id)).all()
    assert stored == [store_id, store_id]
