"""The Shopify client: cost-based pacing, throttling, errors, and token refresh before expiry."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses

from connectors.shopify.client import ShopifyClient, Tokens, valid_shop
from connectors.shopify.connection import client_for, seal
from integration.crypto import decrypt_json
from integration.errors import FatalConnectorError, RetriableConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store
from integration.store.types import utcnow
from tests.support.shopify import API_KEY, SECRET, SHOP

GRAPHQL = f"https://{SHOP}/admin/api/2026-07/graphql.json"


def cost(available: float, requested: float = 100, maximum: float = 1000, rate: float = 50) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": maximum,
                "currentlyAvailable": available,
                "restoreRate": rate,
            },
        }
    }


@pytest.fixture
def shopify_api_client(slept: list[float]) -> ShopifyClient:
    return ShopifyClient(SHOP, "shpat_x", "2026-07", sleep=slept.append)


@responses.activate
def test_calls_are_paced_by_the_cost_bucket_shopify_reports(
    shopify_api_client: ShopifyClient, slept: list[float]
) -> None:
    responses.post(GRAPHQL, json={"data": {"shop": {"name": "a"}}, "extensions": cost(available=30)})
    responses.post(GRAPHQL, json={"data": {"shop": {"name": "b"}}, "extensions": cost(available=900)})
    assert shopify_api_client.graphql("{ shop { name } }") == {"shop": {"name": "a"}}
    assert slept == []
    assert shopify_api_client.graphql("{ shop { name } }") == {"shop": {"name": "b"}}
    # 100 points needed, 30 available, 50 restored a second: wait 1.4 s before the second call.
    assert slept == [pytest.approx(1.4)]


@responses.activate
def test_a_throttled_query_waits_and_is_retried(
    shopify_api_client: ShopifyClient, slept: list[float]
) -> None:
    responses.post(
        GRAPHQL,
        json={
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": cost(available=2, requested=752),
        },
    )
    responses.post(GRAPHQL, json={"data": {"ok": True}, "extensions": cost(available=900, requested=752)})
    assert shopify_api_client.graphql("{ ok }") == {"ok": True}
    assert slept
    assert slept[0] == pytest.approx(15.0)


@responses.activate
def test_http_429_honours_retry_after_then_gives_up_as_retriable(
    shopify_api_client: ShopifyClient, slept: list[float]
) -> None:
    for _ in range(5):
        responses.post(GRAPHQL, status=429, headers={"Retry-After": "2.0"}, body="")
    with pytest.raises(RetriableConnectorError) as caught:
        shopify_api_client.graphql("{ ok }")
    assert caught.value.retry_after == 2.0
    assert slept == [2.0] * 4


@responses.activate
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, RetriableConnectorError),
        (503, RetriableConnectorError),
        (401, FatalConnectorError),
        (403, FatalConnectorError),
        (404, FatalConnectorError),
    ],
)
def test_http_errors_are_retriable_or_fatal(
    shopify_api_client: ShopifyClient, status: int, error: type
) -> None:
    responses.post(GRAPHQL, status=status, json={"errors": "boom"})
    with pytest.raises(error):
        shopify_api_client.graphql("{ ok }")


@responses.activate
def test_graphql_errors_and_user_errors_are_fatal(shopify_api_client: ShopifyClient) -> None:
    responses.post(GRAPHQL, json={"errors": [{"message": "Field 'nope' doesn't exist"}]})
    with pytest.raises(FatalConnectorError, match="nope"):
        shopify_api_client.graphql("{ nope }")
    responses.post(
        GRAPHQL,
        json={
            "data": {
                "tagsAdd": {
                    "node": None,
                    "userErrors": [{"field": ["id"], "message": "Customer does not exist"}],
                }
            }
        },
    )
    with pytest.raises(FatalConnectorError, match="Customer does not exist"):
        shopify_api_client.mutation("mutation { tagsAdd }", {}, "tagsAdd")


@responses.activate
def test_a_timeout_is_retriable(shopify_api_client: ShopifyClient) -> None:
    import requests

    responses.post(GRAPHQL, body=requests.Timeout("read timed out"))
    with pytest.raises(RetriableConnectorError):
        shopify_api_client.graphql("{ ok }")


def _store_tokens(settings: Settings, store_id: int, tokens: Tokens) -> None:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        store.credentials = seal(settings, tokens)


def _tokens(settings: Settings, store_id: int) -> Tokens:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        assert store.credentials is not None
        return Tokens(**decrypt_json(settings.encryption_keys, store.credentials))


def test_an_expiring_token_is_refreshed_before_use_and_both_tokens_rotate(
    shopify_settings: Settings, shop: int
) -> None:
    soon = (utcnow() + timedelta(minutes=2)).isoformat()
    _store_tokens(shopify_settings, shop, Tokens("shpat_old", "read_orders", soon, "shprt_old", soon))
    with responses.RequestsMock() as mock:
        mock.post(
            f"https://{SHOP}/admin/oauth/access_token",
            json={
                "access_token": "shpat_fresh",
                "scope": "read_orders",
                "expires_in": 3600,
                "refresh_token": "shprt_fresh",
                "refresh_token_expires_in": 7776000,
            },
        )
        mock.post(GRAPHQL, json={"data": {"shop": {"name": "x"}}})
        shopify_api_client = client_for(shopify_settings, shop)
        shopify_api_client.graphql("{ shop { name } }")
        assert json.loads(mock.calls[0].request.body) == {
            "client_id": API_KEY,
            "client_secret": SECRET,
            "grant_type": "refresh_token",
            "refresh_token": "shprt_old",
        }
        assert mock.calls[1].request.headers["X-Shopify-Access-Token"] == "shpat_fresh"
    tokens = _tokens(shopify_settings, shop)
    assert (tokens.access_token, tokens.refresh_token) == ("shpat_fresh", "shprt_fresh")
    # A fresh token is used as it is: no second refresh.
    with responses.RequestsMock() as mock:
        client_for(shopify_settings, shop)
        assert len(mock.calls) == 0


def test_a_revoked_refresh_token_is_fatal_and_keeps_the_stored_tokens(
    shopify_settings: Settings, shop: int
) -> None:
    soon = (utcnow() + timedelta(minutes=1)).isoformat()
    _store_tokens(shopify_settings, shop, Tokens("shpat_old", "read_orders", soon, "shprt_old", soon))
    with responses.RequestsMock() as mock:
        mock.post(f"https://{SHOP}/admin/oauth/access_token", status=400, json={"error": "invalid_grant"})
        with pytest.raises(FatalConnectorError, match="invalid_grant"):
            client_for(shopify_settings, shop)
    assert _tokens(shopify_settings, shop).refresh_token == "shprt_old"


@pytest.mark.parametrize(
    ("shop", "valid"),
    [
        ("a.myshopify.com", True),
        ("my-shop-1.myshopify.com", True),
        ("a.myshopify.com.evil", False),
        ("evil.com?a.myshopify.com", False),
        ("a.myshopify.com\n", False),
        (".myshopify.com", False),
        ("a_b.myshopify.com", False),
    ],
)
def test_shop_domains_are_matched_by_an_anchored_pattern(shop: str, valid: bool) -> None:
    assert valid_shop(shop) is valid
