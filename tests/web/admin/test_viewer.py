"""Who may see an admin page: session tokens inside Shopify, bounce and retry answers, frame policy."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.support.session_tokens import (
    EMBEDDED,
    OLD_SECRET,
    RETRY_HEADER,
    assert_told_to_retry,
    fetch_headers,
    invalid_tokens,
    mint,
    page_load,
)
from tests.support.shopify import SHOP

pytestmark = EMBEDDED

OUTSIDE = "frame-ancestors 'none';"
INSIDE = f"frame-ancestors https://{SHOP} https://admin.shopify.com;"


def test_a_verified_page_load_shows_the_page_framed_only_by_its_shop_and_shopify(
    shopify_client: FlaskClient, shop: int
) -> None:
    answer = shopify_client.get("/admin/", query_string=page_load(mint()))
    assert answer.status_code == 200, answer.data
    assert answer.headers["Content-Security-Policy"] == INSIDE
    assert b"<s-page" in answer.data  # Polaris inside Shopify
    assert b'name="shopify-api-key"' in answer.data


def test_the_previous_secret_still_opens_the_page_during_a_rotation(
    shopify_client: FlaskClient, shop: int
) -> None:
    answer = shopify_client.get("/admin/", query_string=page_load(mint(secret=OLD_SECRET)))
    assert answer.status_code == 200


@pytest.mark.parametrize("token", invalid_tokens(pytest.param(lambda: "", id="missing")))
def test_a_page_load_without_a_valid_token_goes_to_the_bounce_page_without_the_token(
    shopify_client: FlaskClient, shop: int, token: object
) -> None:
    spent = token()  # type: ignore[operator]
    answer = shopify_client.get("/admin/", query_string=page_load(spent, subscription="subscribed"))
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/admin/bounce"
    query = parse_qs(target.query)
    assert "id_token" not in query
    assert query["shop"] == [SHOP]
    reload = urlsplit(query["shopify-reload"][0])
    assert reload.path == "/admin/"
    reloaded = parse_qs(reload.query)
    assert "id_token" not in reloaded
    assert reloaded["subscription"] == ["subscribed"]
    assert reloaded["shop"] == [SHOP]
    if spent:
        assert spent not in answer.headers["Location"]


def test_the_bounce_page_loads_app_bridge_alone_and_may_not_be_framed(shopify_client: FlaskClient) -> None:
    answer = shopify_client.get("/admin/bounce", query_string={"shop": SHOP, "shopify-reload": "/admin/"})
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == OUTSIDE
    assert b"app-bridge.js" in answer.data
    assert b"polaris" not in answer.data


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: mint(exp=1, nbf=0), id="expired"),
        pytest.param(lambda: mint(iss="https://other-shop.myshopify.com/admin"), id="issuer"),
        pytest.param(lambda: "not-a-token", id="garbage"),
    ],
)
def test_a_fetch_with_a_bad_token_is_told_to_retry_with_a_fresh_one(
    shopify_client: FlaskClient, shop: int, token: object
) -> None:
    answer = shopify_client.get("/admin/contacts/freshness", headers=fetch_headers(token()))  # type: ignore[operator]
    assert_told_to_retry(answer)
    assert answer.get_json()["code"] == "unauthorized"


def test_a_fetch_with_a_valid_token_is_answered(shopify_client: FlaskClient, shop: int) -> None:
    answer = shopify_client.get("/admin/contacts/freshness", headers=fetch_headers(mint()))
    assert answer.status_code == 200
    assert answer.get_json() == {"ready": True}
    assert RETRY_HEADER not in answer.headers


def test_outside_shopify_the_sign_in_page_may_not_be_framed(shopify_client: FlaskClient) -> None:
    answer = shopify_client.get("/admin/signin")
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == OUTSIDE


def test_outside_shopify_a_page_asks_to_sign_in(shopify_client: FlaskClient) -> None:
    answer = shopify_client.get("/admin/")
    assert answer.status_code == 302
    assert urlsplit(answer.headers["Location"]).path == "/admin/signin"


def test_a_refused_page_load_does_not_let_its_claimed_shop_frame_anything(
    shopify_client: FlaskClient, shop: int
) -> None:
    answer = shopify_client.get(
        "/admin/bounce",
        query_string=page_load(
            mint(secret="shpss_some_other_apps_secret_of_32_bytes"), shop="evil.myshopify.com"
        ),
    )
    assert answer.headers["Content-Security-Policy"] == OUTSIDE
