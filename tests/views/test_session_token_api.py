"""The JSON API called from an embedded page: a Shopify session token stands for its shop's account."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from connectors.shopify.client import Tokens
from connectors.shopify.connection import seal
from integration.accounts import connect_platform_store
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Platform, Store, StoreState
from tests.support.session_tokens import (
    EMBEDDED,
    OLD_SECRET,
    RETRY_HEADER,
    SECRET,
    assert_told_to_retry,
    fetch_headers,
    invalid_tokens,
    mint,
)
from tests.support.shopify import SHOP

pytestmark = EMBEDDED

OTHER = "other-shop.myshopify.com"


def connect(settings: Settings, shop: str) -> int:
    with session_scope(settings.database_url) as session:
        store, _ = connect_platform_store(
            session,
            platform=Platform.SHOPIFY,
            shop_domain=shop,
            name=shop,
            currency="EUR",
            time_zone="Europe/Madrid",
            credentials=seal(settings, Tokens(access_token="shpat_other", scope="read_orders")),
        )
        return store.id


def backfill(client: FlaskClient, store_id: int, token: str) -> int:
    return client.get(f"/api/v1/stores/{store_id}/backfill", headers=fetch_headers(token)).status_code


def test_a_session_token_reads_its_shops_account_and_no_other(
    shopify_settings: Settings, shopify_client: FlaskClient, shop: int
) -> None:
    other = connect(shopify_settings, OTHER)
    assert backfill(shopify_client, shop, mint()) == 200
    assert backfill(shopify_client, other, mint()) == 404
    assert backfill(shopify_client, other, mint(OTHER)) == 200
    assert backfill(shopify_client, shop, mint(OTHER)) == 404
    answer = shopify_client.get(
        f"/api/v1/stores/{shop}/backfill", headers=fetch_headers(mint(secret=OLD_SECRET))
    )
    assert answer.get_json()["store_id"] == shop


@pytest.mark.parametrize("token", invalid_tokens(pytest.param(lambda: "a.b.c", id="three-parts")))
def test_a_bad_session_token_is_refused_with_the_retry_header(
    shopify_client: FlaskClient, shop: int, token: object
) -> None:
    answer = shopify_client.get("/api/v1/summary", headers=fetch_headers(token()))  # type: ignore[operator]
    assert_told_to_retry(answer)
    assert answer.get_json() == {"code": "unauthorized", "message": "the session token is not valid"}


def test_a_valid_token_of_a_shop_without_a_connected_store_is_refused_for_good(
    shopify_settings: Settings, shopify_client: FlaskClient, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        store.state = StoreState.DISCONNECTED
    for token in (mint(), mint(OTHER)):
        answer = shopify_client.get("/api/v1/summary", headers=fetch_headers(token))
        assert answer.status_code == 401
        assert answer.get_json()["code"] == "not_connected"
        assert RETRY_HEADER not in answer.headers  # a fresh token would not help


def test_api_keys_answer_as_before(shopify_client: FlaskClient, shop_headers: dict[str, str]) -> None:
    assert shopify_client.get("/api/v1/summary", headers=shop_headers).status_code == 200
    answer = shopify_client.get("/api/v1/summary", headers={"Authorization": "Bearer sp_unknown_key"})
    assert answer.status_code == 401
    assert answer.get_json() == {"code": "unauthorized", "message": "unknown or revoked API key"}
    assert RETRY_HEADER not in answer.headers


@pytest.mark.shopify_app(
    shopify_api_secret=SECRET,
    shopify_api_secret_previous=OLD_SECRET,
    api_rate_limit_per_second=0.01,  # nothing refills during the test
    api_rate_limit_burst=2,
)
def test_session_tokens_share_one_bucket_per_shop_apart_from_the_api_keys(
    shopify_settings: Settings,
    shopify_client: FlaskClient,
    shop: int,
    shop_headers: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    connect(shopify_settings, OTHER)
    staff = [mint(sub="1"), mint(sub="2"), mint(sub="3")]  # three of the shop's staff
    answers = [shopify_client.get("/api/v1/summary", headers=fetch_headers(t)) for t in staff]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].get_json()["message"].startswith("too many requests from this shop")
    assert "Retry-After" in answers[-1].headers
    assert shopify_client.get("/api/v1/summary", headers=fetch_headers(mint(OTHER))).status_code == 200
    assert shopify_client.get("/api/v1/summary", headers=shop_headers).status_code == 200
    assert any(key.endswith(f"shop:{SHOP}".encode()) for key in redis_client.keys("*"))
