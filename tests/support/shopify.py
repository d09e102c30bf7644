"""Fixtures for Shopify tests: a configured app, a connected shop, a signed-delivery poster, and
Shopify's answers to a new shop installing the app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from connectors.shopify.client import Tokens
from connectors.shopify.connection import seal
from integration.accounts import connect_platform_store
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import Platform, Store
from integration.web.app import create_app
from tests.support.builders import bearer
from webhooks.signatures import shopify_sign_body

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shopify"
SHOP = "snowdevil.myshopify.com"
API_KEY = "0123456789abcdef0123456789abcdef"
SECRET = "shpss_current_secret_for_tests"
OLD_SECRET = "shpss_previous_secret_for_tests"
APP_URL = "https://storepulse.example.com"
ACCESS_TOKEN = "shpat_test_access_token"  # noqa: S105 - a test value


def payload(name: str) -> dict[str, Any]:
    """A Shopify sample payload from tests/fixtures/shopify, as a dict."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def raw(name: str) -> bytes:
    """The bytes of a fixture exactly as stored (signatures cover these bytes)."""
    return (FIXTURES / f"{name}.json").read_bytes()


@pytest.fixture
def shopify_settings(settings: Settings) -> Iterator[Settings]:
    made = replace(
        settings,
        shopify_api_key=API_KEY,
        shopify_api_secret=SECRET,
        shopify_api_secret_previous=OLD_SECRET,
        app_url=APP_URL,
    )
    configure(made)
    yield made
    configure(settings)


APP_FIELDS = (
    "instance_path",
    "database_url",
    "redis_url",
    "secret_key",
    "encryption_keys",
    "shopify_api_key",
    "shopify_api_secret",
    "shopify_api_secret_previous",
    "app_url",
)


def app_of(settings: Settings, **overrides: object) -> Flask:
    """The web app of these settings (and `overrides`), as the test client drives it."""
    app = create_app({n: getattr(settings, n) for n in APP_FIELDS} | overrides)
    app.testing = True
    return app


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shopify_app(**overrides): settings the `shopify_app` of the test is made with"
    )


@pytest.fixture
def shopify_app(shopify_settings: Settings, request: pytest.FixtureRequest) -> Flask:
    """The app with Shopify configured, and the overrides of the test's `shopify_app` mark."""
    mark = request.node.get_closest_marker("shopify_app")
    return app_of(shopify_settings, **(mark.kwargs if mark else {}))


@pytest.fixture
def shopify_client(shopify_app: Flask) -> FlaskClient:
    return shopify_app.test_client()


def connect_shop(settings: Settings) -> int:
    """Connect the Shopify store (USD, New York) with a long-lived access token; return its id."""
    with session_scope(settings.database_url) as session:
        store, _ = connect_platform_store(
            session,
            platform=Platform.SHOPIFY,
            shop_domain=SHOP,
            name="Snow Devil",
            currency="USD",
            time_zone="America/New_York",
            credentials=seal(settings, Tokens(access_token=ACCESS_TOKEN, scope="read_orders")),
        )
        return store.id


@pytest.fixture
def shop(shopify_settings: Settings) -> int:
    """A connected Shopify store (USD, New York) with a long-lived access token; returns its id."""
    return connect_shop(shopify_settings)


Deliver = Callable[..., TestResponse]


@pytest.fixture
def deliver(shopify_client: FlaskClient) -> Deliver:
    """Post a delivery signed as Shopify signs it (override any header to forge one)."""

    def post(
        topic: str,
        body: bytes | dict[str, Any],
        *,
        webhook_id: str | None = None,
        secret: str = SECRET,
        shop: str = SHOP,
        triggered_at: str = "2026-07-10T16:15:47.000000Z",
        headers: dict[str, str | None] | None = None,
    ) -> TestResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_sign_body(secret, data),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": "2026-07",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": triggered_at,
        }
        for name, value in (headers or {}).items():
            if value is None:
                sent.pop(name, None)
            else:
                sent[name] = value
        return shopify_client.post("/webhooks/shopify", data=data, headers=sent)

    return post


ShopApi = Callable[[str], Any]


@pytest.fixture
def shop_headers(shopify_settings: Settings, shop: int) -> dict[str, str]:
    """Headers that authenticate as a new API key of the shop's account."""
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        return bearer(session, store.account_id)


@pytest.fixture
def shop_api(shop_headers: dict[str, str], shopify_client: FlaskClient) -> ShopApi:
    """GET an API path with a key of the shop's account and return its JSON (asserting a 200)."""

    def get(path: str) -> Any:
        answer = shopify_client.get(path, headers=shop_headers)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    return get


# A shop that installs the app: not connected yet, so connecting it asks Shopify for its tokens and
# its details, subscribes to the webhooks and may start the backfill's bulk query.
NEW_SHOP = "new-shop.myshopify.com"
NEW_SHOP_GRAPHQL = f"https://{NEW_SHOP}/admin/api/2026-07/graphql.json"
NEW_SHOP_TOKEN_URL = f"https://{NEW_SHOP}/admin/oauth/access_token"
WEBHOOKS_URI = f"{APP_URL}/webhooks/shopify"
# The `extensions` of a GraphQL answer: what the query cost and how much of the bucket is left.
QUERY_COST = {
    "cost": {
        "requestedQueryCost": 10,
        "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0},
    }
}


def expiring_tokens(access_token: str, refresh_token: str) -> dict[str, Any]:
    """Shopify's documented answer to a token request for an expiring offline token."""
    return {
        "access_token": access_token,
        "scope": "write_customers,read_orders,read_checkouts,write_pixels,read_customer_events",
        "expires_in": 3600,
        "refresh_token": refresh_token,
        "refresh_token_expires_in": 7776000,
    }


def answer_new_shop(
    mock: responses.RequestsMock,
    *,
    tokens: dict[str, Any],
    currency: str,
    time_zone: str,
    existing: Sequence[str] = (),
    pixel_errors: Sequence[dict[str, Any]] = (),
) -> None:
    """Answer the new shop's token request with `tokens`, and its GraphQL calls as Shopify does: the
    shop query, the webhook subscriptions (`existing` topics already there), the web pixel (refused
    with `pixel_errors`, if any) and the bulk query."""
    mock.post(NEW_SHOP_TOKEN_URL, json=tokens)

    def graphql(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        query, variables = body["query"], body["variables"]
        if "shop {" in query:
            data: dict[str, Any] = {
                "shop": {
                    "name": "New Shop",
                    "currencyCode": currency,
                    "ianaTimezone": time_zone,
                    "myshopifyDomain": NEW_SHOP,
                }
            }
        elif "webhookSubscriptions(" in query:
            edges = [
                {"node": {"id": f"gid://shopify/WebhookSubscription/{i}", "topic": t, "uri": WEBHOOKS_URI}}
                for i, t in enumerate(existing)
            ]
            data = {
                "webhookSubscriptions": {
                    "edges": edges,
                    "pageInfo": {"hasNextPage": False, "endCursor": None},
                }
            }
        elif "webhookSubscriptionCreate" in query:
            data = {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": {
                        "id": "gid://shopify/WebhookSubscription/99",
                        "topic": variables["topic"],
                        "uri": variables["subscription"]["uri"],
                    },
                    "userErrors": [],
                }
            }
        elif "webPixelCreate" in query:
            settings = json.loads(variables["webPixel"]["settings"])
            assert sorted(settings) == ["collectUrl", "publicKey"], settings
            pixel = None if pixel_errors else {"id": "gid://shopify/WebPixel/1", "settings": settings}
            data = {"webPixelCreate": {"webPixel": pixel, "userErrors": list(pixel_errors)}}
        else:
            assert "bulkOperationRunQuery" in query, query
            data = {
                "bulkOperationRunQuery": {
                    "bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
                    "userErrors": [],
                }
            }
        return 200, {}, json.dumps({"data": data, "extensions": QUERY_COST})

    mock.add_callback(responses.POST, NEW_SHOP_GRAPHQL, callback=graphql)


def created_topics(mock: responses.RequestsMock) -> list[str]:
    """The webhook topics the app subscribed the new shop to, in the order it asked."""
    return [
        json.loads(c.request.body)["variables"]["topic"]
        for c in mock.calls
        if c.request.url == NEW_SHOP_GRAPHQL
        and "webhookSubscriptionCreate" in json.loads(c.request.body)["query"]
    ]
