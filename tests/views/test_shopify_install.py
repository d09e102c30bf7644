"""Installing from the Shopify admin: install redirect, callback checks, token exchange, subscriptions."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.shopify.client import Tokens
from connectors.shopify.setup import WEBHOOK_TOPICS
from integration.audiences import destinations, segments
from integration.crypto import decrypt_json
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, DestinationKind, Order, Store, StoreState, Sync, SyncMode
from integration.store.types import utcnow
from tests.support.shopify import (
    API_KEY,
    APP_URL,
    NEW_SHOP,
    NEW_SHOP_TOKEN_URL,
    SECRET,
    Deliver,
    answer_new_shop,
    created_topics,
    expiring_tokens,
    raw,
)
from webhooks.signatures import shopify_sign_query

SHOP = NEW_SHOP
TOKEN_URL = NEW_SHOP_TOKEN_URL


def signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    params = {"timestamp": str(int(time.time())), **params}
    return {**params, "hmac": shopify_sign_query(secret, params)}


def _install(client: FlaskClient, shop: str = SHOP) -> str:
    response = client.get("/shopify/install", query_string=signed({"shop": shop}))
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", shop, "/admin/oauth/authorize")
    query = parse_qs(target.query)
    assert query["client_id"] == [API_KEY]
    assert query["redirect_uri"] == [f"{APP_URL}/shopify/callback"]
    assert set(query["scope"][0].split(",")) == {
        "read_customers",
        "write_customers",
        "read_orders",
        "read_checkouts",
        "write_pixels",
        "read_customer_events",
    }
    return query["state"][0]


def _shopify_answers(mock: responses.RequestsMock, existing: list[str] | None = None) -> None:
    """Answer the new shop's token request and GraphQL calls; the shop sells in CZK, in Prague."""
    answer_new_shop(
        mock,
        tokens=expiring_tokens("shpat_new", "shprt_new"),
        currency="CZK",
        time_zone="Europe/Prague",
        existing=existing or (),
    )


def test_install_then_callback_connects_the_shop_with_an_expiring_token_and_subscribes(
    shopify_settings: Settings, shopify_client: FlaskClient, run_worker: object
) -> None:
    state = _install(shopify_client)
    with responses.RequestsMock() as mock:
        _shopify_answers(mock)
        response = shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "auth-code-1", "state": state})
        )
        assert response.status_code == 200, response.data
        exchange = json.loads(mock.calls[0].request.body)
        assert exchange == {
            "client_id": API_KEY,
            "client_secret": SECRET,
            "code": "auth-code-1",
            "expiring": "1",
        }
        assert sorted(created_topics(mock)) == sorted(WEBHOOK_TOPICS)
        uris = {
            json.loads(c.request.body)["variables"]["subscription"]["uri"]
            for c in mock.calls
            if "webhookSubscriptionCreate" in (c.request.body or b"").decode()
        }
        assert uris == {f"{APP_URL}/webhooks/shopify"}
    with session_scope(shopify_settings.database_url) as session:
        store = session.scalars(select(Store).where(Store.shop_domain == SHOP)).one()
        assert (store.name, store.currency, store.time_zone, store.state) == (
            "New Shop",
            "CZK",
            "Europe/Prague",
            StoreState.CONNECTED,
        )
        assert store.credentials is not None
        assert b"shpat_new" not in store.credentials
        tokens = Tokens(**decrypt_json(shopify_settings.encryption_keys, store.credentials))
        assert (tokens.access_token, tokens.refresh_token) == ("shpat_new", "shprt_new")
        assert tokens.expires_at is not None
        assert tokens.refresh_expires_at is not None
    assert b"New Shop" in response.data


def _pixel_settings(mock: responses.RequestsMock) -> list[dict[str, str]]:
    return [
        json.loads(json.loads(c.request.body)["variables"]["webPixel"]["settings"])
        for c in mock.calls
        if "webPixelCreate" in (c.request.body or b"").decode()
    ]


def test_the_callback_switches_the_pixel_on_with_the_stores_public_key(
    shopify_settings: Settings, shopify_client: FlaskClient
) -> None:
    state = _install(shopify_client)
    with responses.RequestsMock() as mock:
        _shopify_answers(mock)
        query = signed({"shop": SHOP, "code": "auth-code-1", "state": state})
        assert shopify_client.get("/shopify/callback", query_string=query).status_code == 200
        settings = _pixel_settings(mock)
    with session_scope(shopify_settings.database_url) as session:
        key = session.scalars(select(Store.public_key).where(Store.shop_domain == SHOP)).one()
    assert settings == [{"collectUrl": f"{APP_URL}/collect", "publicKey": key}]
    assert key.startswith("pk_")


def test_a_shop_whose_pixel_is_refused_is_connected_all_the_same(
    shopify_settings: Settings, shopify_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator has not deployed the extension yet (`NO_EXTENSION`): orders and customers flow."""
    state = _install(shopify_client)
    refused = [{"code": "NO_EXTENSION", "field": None, "message": "No extension found."}]
    with responses.RequestsMock() as mock, caplog.at_level(logging.WARNING):
        answer_new_shop(
            mock,
            tokens=expiring_tokens("shpat_new", "shprt_new"),
            currency="CZK",
            time_zone="Europe/Prague",
            pixel_errors=refused,
        )
        query = signed({"shop": SHOP, "code": "auth-code-1", "state": state})
        assert shopify_client.get("/shopify/callback", query_string=query).status_code == 200
        assert sorted(created_topics(mock)) == sorted(WEBHOOK_TOPICS)
    with session_scope(shopify_settings.database_url) as session:
        assert (
            session.scalars(select(Store.state).where(Store.shop_domain == SHOP)).one()
            == StoreState.CONNECTED
        )
    assert any(
        f"web pixel not switched on for {SHOP}" in r.getMessage() and "NO_EXTENSION" in r.getMessage()
        for r in caplog.records
    )


def test_the_state_is_single_use_and_bound_to_the_browser(
    shopify_settings: Settings, shopify_client: FlaskClient, shopify_app: object
) -> None:
    state = _install(shopify_client)
    other_browser = shopify_app.test_client()  # type: ignore[attr-defined]
    query = signed({"shop": SHOP, "code": "c", "state": state})
    assert other_browser.get("/shopify/callback", query_string=query).status_code == 403
    # The nonce was spent by that attempt: the right browser cannot reuse it either.
    assert shopify_client.get("/shopify/callback", query_string=query).status_code == 403
    assert (
        shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "c", "state": "made-up"})
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com",
        "new-shop.myshopify.com.evil.com",
        "evil.com/new-shop.myshopify.com",
        "https://new-shop.myshopify.com",
        "-new-shop.myshopify.com",
        "",
    ],
)
def test_install_refuses_anything_but_a_bare_shop_domain(shopify_client: FlaskClient, shop: str) -> None:
    assert shopify_client.get("/shopify/install", query_string=signed({"shop": shop})).status_code == 400


def test_install_and_callback_refuse_unsigned_or_stale_queries(shopify_client: FlaskClient) -> None:
    assert shopify_client.get("/shopify/install", query_string={"shop": SHOP}).status_code == 401
    forged = signed({"shop": SHOP}, secret="not-the-secret")
    assert shopify_client.get("/shopify/install", query_string=forged).status_code == 401
    stale = {"shop": SHOP, "timestamp": str(int(time.time()) - 3 * 86400)}
    stale["hmac"] = shopify_sign_query(SECRET, stale)
    assert shopify_client.get("/shopify/install", query_string=stale).status_code == 401
    state = _install(shopify_client)
    tampered = signed({"shop": SHOP, "code": "c", "state": state})
    tampered["code"] = "other"
    assert shopify_client.get("/shopify/callback", query_string=tampered).status_code == 401


def test_a_reinstall_reconnects_the_store_and_keeps_its_data(
    shopify_settings: Settings, shopify_client: FlaskClient, deliver: Deliver, run_worker: object
) -> None:
    with responses.RequestsMock() as mock:
        _shopify_answers(mock)
        state = _install(shopify_client)
        shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "a", "state": state})
        )
    deliver("orders/create", raw("orders_create"), shop=SHOP)
    deliver("app/uninstalled", raw("app_uninstalled"), shop=SHOP, triggered_at=utcnow().isoformat())
    run_worker()  # type: ignore[operator]
    with session_scope(shopify_settings.database_url) as session:
        # A tag sync the uninstall stopped (its token was revoked).
        store = session.scalars(select(Store)).one()
        segment = segments.save(
            session, store.account_id, name="All", raw_filter={"subscription": ["subscribed"]}
        )
        tags = destinations.create_destination(
            session,
            store.account_id,
            shopify_settings.encryption_keys,
            kind=DestinationKind.SHOPIFY,
            name="Tags",
            config={"store_id": store.id},
            credentials={},
        )
        stopped = destinations.create_sync(
            session,
            store.account_id,
            segment_id=segment.id,
            destination_id=tags.id,
            mode=SyncMode.TAGS,
            tag_prefix="storepulse:",
            start=True,
        )
        stopped.status, stopped.last_error = "stopped", "Shopify refused the access token (401)"
    with responses.RequestsMock() as mock:
        _shopify_answers(mock, existing=list(WEBHOOK_TOPICS)[:5])
        state = _install(shopify_client)
        response = shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "b", "state": state})
        )
        assert response.status_code == 200
        assert b"Reconnected" in response.data
        assert sorted(created_topics(mock)) == sorted(list(WEBHOOK_TOPICS)[5:])
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store.state)).all() == [StoreState.CONNECTED]
        assert len(session.scalars(select(Account)).all()) == 1
        assert len(session.scalars(select(Order)).all()) == 1
        assert session.scalars(select(Sync.status)).all() == ["idle"]  # new tokens: the sync runs again


def test_a_grant_missing_a_needed_scope_is_refused(shopify_client: FlaskClient) -> None:
    state = _install(shopify_client)
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "shpat_x", "scope": "read_orders"})
        response = shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "a", "state": state})
        )
    assert response.status_code == 403
    assert b"read_customers" in response.data


def test_a_refused_code_exchange_is_reported_not_stored(
    shopify_settings: Settings, shopify_client: FlaskClient
) -> None:
    state = _install(shopify_client)
    with responses.RequestsMock() as mock:
        mock.post(
            TOKEN_URL,
            status=400,
            json={"error": "invalid_request", "error_description": "The authorization code was not found"},
        )
        response = shopify_client.get(
            "/shopify/callback", query_string=signed({"shop": SHOP, "code": "a", "state": state})
        )
    assert response.status_code == 502
    with session_scope(shopify_settings.database_url) as session:
        assert session.scalars(select(Store)).first() is None
