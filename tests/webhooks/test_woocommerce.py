"""WooCommerce's webhook deliveries: verified before anything is read, stored once, normalized by
the real worker into the same orders, checkouts and contacts as every platform's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.accounts import add_store, create_account
from integration.commerce import carts
from integration.crypto import encrypt_json
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Checkout,
    CheckoutState,
    Contact,
    InboxDelivery,
    InboxStatus,
    Order,
    Platform,
    Store,
    StoreCustomer,
)
from tests.support.woocommerce import document
from webhooks.signatures import woocommerce_sign_body

SECRET = "wc-webhook-secret-of-the-store"


@pytest.fixture
def shop(settings: Settings) -> int:
    """A connected WooCommerce store with its webhook secret."""
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Woo shop", "Europe/Madrid").id
        store = add_store(
            session,
            account,
            platform=Platform.WOOCOMMERCE,
            name="Woo",
            currency="USD",
            shop_domain="example.com",
        )
        store.credentials = encrypt_json(
            settings.encryption_keys,
            {"consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": SECRET},
        )
        return store.id


def deliver(
    client: FlaskClient,
    store_id: int,
    topic: str,
    payload: dict[str, Any],
    delivery_id: str = "d-1",
    secret: str | None = SECRET,
) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.split(".")[0],
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }
    if secret is not None:
        headers["X-WC-Webhook-Signature"] = woocommerce_sign_body(secret, body)
    return client.post(f"/webhooks/woocommerce/{store_id}", data=body, headers=headers)


def _stored(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(InboxDelivery)) or 0


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def test_a_signed_order_is_stored_once_and_becomes_the_buyers_order(
    client: FlaskClient, settings: Settings, shop: int, run_worker: Any
) -> None:
    order = document("order_723")
    assert deliver(client, shop, "order.created", order).status_code == 200
    assert deliver(client, shop, "order.created", order).status_code == 200  # the same delivery again
    assert _stored(settings) == 1
    run_worker()
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(InboxDelivery)).one()
        assert (delivery.source, delivery.topic, delivery.status) == (
            "woocommerce",
            "order.created",
            InboxStatus.PROCESSED,
        )
        assert delivery.delivery_id == f"{shop}:d-1"
        stored = session.scalars(select(Order)).one()
        assert (stored.external_id, stored.total_price, stored.total_refunded) == (
            "723",
            Decimal("39.00"),
            Decimal("19.00"),
        )
        contact = session.get(Contact, stored.contact_id)
        assert contact is not None
        assert contact.email == "joao.silva@example.com"
        link = session.scalars(select(StoreCustomer)).one()
        assert (link.store_id, link.external_id) == (shop, "26")


@pytest.mark.parametrize("signature", [None, "Zm9yZ2Vk", "not base64 at all"])
def test_a_forged_or_unsigned_delivery_is_refused_and_stored_nowhere(
    client: FlaskClient, settings: Settings, shop: int, signature: str | None
) -> None:
    body = json.dumps(document("order_727")).encode()
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created"}
    if signature is not None:
        headers["X-WC-Webhook-Signature"] = signature
    assert client.post(f"/webhooks/woocommerce/{shop}", data=body, headers=headers).status_code == 401
    signed_by_another = deliver(client, shop, "order.created", document("order_727"), secret="another")
    assert signed_by_another.status_code == 401
    assert _stored(settings) == 0


def test_a_connected_store_without_keys_refuses_every_delivery(
    client: FlaskClient, settings: Settings, shop: int
) -> None:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        store.credentials = None  # connected, its keys not kept yet
    assert deliver(client, shop, "order.created", document("order_727")).status_code == 401
    assert deliver(client, shop, "order.created", document("order_727"), secret="").status_code == 401
    assert _stored(settings) == 0


def test_the_creation_ping_is_answered_and_stores_nothing(
    client: FlaskClient, settings: Settings, shop: int
) -> None:
    answer = client.post(
        f"/webhooks/woocommerce/{shop}",
        data=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert _stored(settings) == 0


def test_a_store_not_connected_or_not_woocommerce_answers_404(
    client: FlaskClient, settings: Settings, shop: int
) -> None:
    assert deliver(client, shop + 1000, "order.created", document("order_727")).status_code == 404
    with session_scope(settings.database_url) as session:
        session.get(Store, shop).state = "disconnected"  # type: ignore[assignment]
    assert deliver(client, shop, "order.created", document("order_727")).status_code == 404
    assert _stored(settings) == 0


def test_an_older_update_arriving_later_changes_nothing(
    client: FlaskClient, settings: Settings, shop: int, run_worker: Any
) -> None:
    cancelled = document("order_727", status="cancelled", date_modified_gmt="2017-03-23T10:00:00")
    paid = document("order_727", status="processing", date_modified_gmt="2017-03-22T19:28:08")
    deliver(client, shop, "order.updated", cancelled, delivery_id="newer")
    deliver(client, shop, "order.updated", paid, delivery_id="older")
    run_worker()
    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(Order)).one()
        assert stored.cancelled_at == datetime(2017, 3, 23, 10, tzinfo=UTC)
        assert stored.updated_at == datetime(2017, 3, 23, 10, tzinfo=UTC)


def test_a_draft_abandoned_then_completed_is_a_recovered_cart(
    client: FlaskClient, settings: Settings, shop: int, run_worker: Any
) -> None:
    started = datetime.now(UTC) - timedelta(days=2)
    draft = document(
        "order_727", status="checkout-draft", date_created_gmt=_gmt(started), date_modified_gmt=_gmt(started)
    )
    deliver(client, shop, "order.updated", draft, delivery_id="draft")
    run_worker()
    with session_scope(settings.database_url) as session:
        assert carts.mark_abandoned(session) == 1
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Checkout.state)).one() == CheckoutState.ABANDONED
    placed = datetime.now(UTC) - timedelta(hours=1)
    # the order placed from the draft: the same id, its time the placement's
    order = document("order_727", date_created_gmt=_gmt(placed), date_modified_gmt=_gmt(placed))
    deliver(client, shop, "order.updated", order, delivery_id="placed")
    run_worker()
    with session_scope(settings.database_url) as session:
        checkout = session.scalars(select(Checkout)).one()
        assert (checkout.token, checkout.state) == ("727", CheckoutState.RECOVERED)
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def test_deletions_remove_the_order_and_the_customers_contact(
    client: FlaskClient, settings: Settings, shop: int, run_worker: Any
) -> None:
    deliver(client, shop, "customer.created", document("customer_25"), delivery_id="c")
    deliver(client, shop, "order.created", document("order_727", customer_id=25), delivery_id="o")
    run_worker()
    deliver(client, shop, "order.deleted", {"id": 727}, delivery_id="od")
    deliver(client, shop, "customer.deleted", {"id": 25}, delivery_id="cd")
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Order.deleted_at)).one() is not None
        assert [d.status for d in session.scalars(select(InboxDelivery))] == [InboxStatus.PROCESSED] * 4
        contact = session.scalars(select(Contact)).one()
        assert contact.deleted_at is not None  # no other store knows John: he leaves the account
