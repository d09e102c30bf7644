"""Connecting a WooCommerce shop: WooCommerce's app authorization (the admin sends the merchant to
the shop, the shop posts the keys to the callback, the merchant comes back) and keys entered by
hand through the API; the set-up that follows, run by the real worker against the shop's API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.crypto import decrypt_json
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Platform, Store
from integration.web.app import create_app
from tests.support.users import make_account, make_user, sign_in
from tests.support.woocommerce import KEY, SECRET, SHOP_ADDRESS, SHOP_URL, Shop, customer, order

APP_URL = "https://pulse.example"


@pytest.fixture
def shop(dns: dict[str, list[str]]) -> Iterator[Shop]:
    dns["shop.example"] = [SHOP_ADDRESS]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Shop(mock)


@pytest.fixture
def https_app(settings: Settings) -> Flask:
    """The app as it runs behind https (WooCommerce posts keys only to an https callback)."""
    names = ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")
    made = create_app({**{n: getattr(settings, n) for n in names}, "app_url": APP_URL})
    made.testing = True
    return made


@pytest.fixture
def merchant(https_app: Flask, settings: Settings) -> tuple[FlaskClient, int]:
    account = make_account(settings, "Woo merchant")
    client = https_app.test_client()
    sign_in(client, make_user(settings, account, "owner@example.com").email)
    return client, account


def _woo_stores(settings: Settings) -> list[Store]:
    with session_scope(settings.database_url) as session:
        found = list(session.scalars(select(Store).where(Store.platform == Platform.WOOCOMMERCE)))
        session.expunge_all()
        return found


def _authorize(client: FlaskClient, address: str = "shop.example") -> dict[str, str]:
    answer = client.get("/admin/setup/stores/woocommerce", query_string={"shop_url": address})
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{SHOP_URL}/wc-auth/v1/authorize"
    return {k: v[0] for k, v in parse_qs(target.query).items()}


def _keys(nonce: str, permissions: str = "read_write") -> dict[str, Any]:
    return {
        "key_id": 1,
        "user_id": nonce,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "key_permissions": permissions,
    }


def test_the_merchant_approves_in_wordpress_and_the_store_is_connected_and_set_up(
    merchant: tuple[FlaskClient, int], https_app: Flask, settings: Settings, shop: Shop, run_worker: Any
) -> None:
    client, account = merchant
    page = client.get("/admin/setup/stores").get_data(as_text=True)
    assert 'id="woocommerce-form"' in page
    assert 'id="woocommerce-keys-form"' in page

    query = _authorize(client)
    assert query["app_name"] == "storepulse"
    assert query["scope"] == "read_write"
    assert query["return_url"] == f"{APP_URL}/admin/setup/stores/woocommerce/return"
    assert query["callback_url"] == f"{APP_URL}/woocommerce/auth/callback"
    nonce = query["user_id"]
    assert len(nonce) >= 40

    # The shop posts the keys (a server-to-server request: no session, no CSRF token).
    shop_side = https_app.test_client()
    assert shop_side.post("/woocommerce/auth/callback", json=_keys(nonce)).status_code == 200
    (store,) = _woo_stores(settings)
    assert (store.account_id, store.shop_domain, store.currency) == (account, SHOP_URL, "XXX")
    assert store.credentials is not None
    kept = decrypt_json(settings.encryption_keys, store.credentials)
    assert (kept["consumer_key"], kept["consumer_secret"]) == (KEY, SECRET)
    assert len(kept["webhook_secret"]) >= 32
    # Single use: the same callback again is refused and changes nothing.
    assert shop_side.post("/woocommerce/auth/callback", json=_keys(nonce)).status_code == 403

    back = client.get(
        "/admin/setup/stores/woocommerce/return", query_string={"success": "1", "user_id": nonce}
    )
    assert back.status_code == 302
    assert f"woo_connected={store.id}" in back.headers["Location"]

    shop.customers = [customer(31, "ada@example.com")]
    shop.orders = [order(727, "ada@example.com")]
    run_worker()  # the set-up job, then the backfill
    (store,) = _woo_stores(settings)
    assert (store.name, store.currency, store.time_zone) == ("Shop Example", "EUR", "Europe/Madrid")
    assert len(shop.webhooks) == 6
    assert {h["delivery_url"] for h in shop.webhooks} == {f"{APP_URL}/webhooks/woocommerce/{store.id}"}
    page = client.get(f"/admin/setup/stores?woo_connected={store.id}").get_data(as_text=True)
    assert 'id="woo-connected"' in page
    assert "Shop Example is connected." in page
    assert f'id="backfill-{store.id}"' in page


@pytest.mark.parametrize(
    ("document", "status"),
    [
        ({"user_id": "never-made-here"}, 403),
        ({"user_id": ""}, 403),
        ("not an object", 400),
    ],
)
def test_a_callback_without_a_pending_authorization_stores_nothing(
    https_app: Flask, settings: Settings, document: Any, status: int
) -> None:
    payload = {**_keys(""), **document} if isinstance(document, dict) else document
    assert https_app.test_client().post("/woocommerce/auth/callback", json=payload).status_code == status
    assert _woo_stores(settings) == []


def test_read_only_keys_are_refused(
    merchant: tuple[FlaskClient, int], https_app: Flask, settings: Settings
) -> None:
    client, _ = merchant
    nonce = _authorize(client)["user_id"]
    answer = https_app.test_client().post("/woocommerce/auth/callback", json=_keys(nonce, "read"))
    assert answer.status_code == 400
    assert _woo_stores(settings) == []


def test_a_shop_of_another_account_is_refused(
    merchant: tuple[FlaskClient, int], https_app: Flask, settings: Settings
) -> None:
    client, _ = merchant
    shop_side = https_app.test_client()
    assert (
        shop_side.post("/woocommerce/auth/callback", json=_keys(_authorize(client)["user_id"])).status_code
        == 200
    )
    other = https_app.test_client()
    sign_in(other, make_user(settings, make_account(settings, "Someone else"), "else@example.com").email)
    assert (
        shop_side.post("/woocommerce/auth/callback", json=_keys(_authorize(other)["user_id"])).status_code
        == 409
    )
    assert len(_woo_stores(settings)) == 1


@pytest.mark.parametrize(
    ("query", "error"),
    [({"shop_url": "not a url"}, "address"), ({"shop_url": "ftp://shop.example"}, "address")],
)
def test_a_wrong_address_comes_back_with_its_reason(
    merchant: tuple[FlaskClient, int], query: dict[str, str], error: str
) -> None:
    client, _ = merchant
    answer = client.get("/admin/setup/stores/woocommerce", query_string=query)
    assert answer.headers["Location"].endswith(f"/admin/setup/stores?woo_error={error}#connect-woocommerce")
    assert 'id="woo-error"' in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_coming_back_refused_or_without_keys_says_so(merchant: tuple[FlaskClient, int]) -> None:
    client, _ = merchant
    nonce = _authorize(client)["user_id"]
    refused = client.get(
        "/admin/setup/stores/woocommerce/return", query_string={"success": "0", "user_id": nonce}
    )
    assert "woo_error=refused" in refused.headers["Location"]
    waiting = client.get(
        "/admin/setup/stores/woocommerce/return", query_string={"success": "1", "user_id": nonce}
    )
    assert "woo_error=no_keys" in waiting.headers["Location"]


def test_over_plain_http_only_keys_by_hand_are_offered(app: Flask, settings: Settings) -> None:
    client = app.test_client()
    sign_in(client, make_user(settings, make_account(settings), "plain@example.com").email)
    page = client.get("/admin/setup/stores").get_data(as_text=True)
    assert 'id="woocommerce-form"' not in page
    assert 'id="woocommerce-keys-form"' in page


@pytest.fixture
def api(client: FlaskClient, api_shop: dict[str, Any]) -> Any:
    def post(**document: Any) -> Any:
        body = {"url": "shop.example", "consumer_key": KEY, "consumer_secret": SECRET, **document}
        return client.post("/api/v1/stores/woocommerce", json=body, headers=api_shop["headers"])

    return post


def test_keys_by_hand_are_tried_and_the_store_takes_the_shops_details(
    api: Any, api_shop: dict[str, Any], settings: Settings, shop: Shop, run_worker: Any
) -> None:
    answer = api()
    assert answer.status_code == 201
    made = answer.get_json()
    assert (made["platform"], made["name"], made["currency"], made["time_zone"]) == (
        "woocommerce",
        "Shop Example",
        "EUR",
        "Europe/Madrid",
    )
    assert made["shop_domain"] == SHOP_URL
    run_worker()
    assert len(shop.webhooks) == 6
    # Connecting again with the same keys replaces them on the same store.
    assert api().status_code == 201
    assert len(_woo_stores(settings)) == 1


@pytest.mark.parametrize(
    ("document", "status", "code", "field"),
    [
        ({"consumer_key": "not-a-key"}, 422, None, "consumer_key"),
        ({"consumer_secret": "cs_short"}, 422, None, "consumer_secret"),
        ({"url": "http://shop.example"}, 422, "invalid_url", "url"),
        ({"consumer_key": "ck_" + "9" * 40}, 422, "credentials_rejected", "consumer_key"),
    ],
)
def test_keys_by_hand_that_cannot_work_are_refused_by_field(
    api: Any,
    settings: Settings,
    shop: Shop,
    document: dict[str, str],
    status: int,
    code: str | None,
    field: str,
) -> None:
    answer = api(**document)
    assert answer.status_code == status
    body = answer.get_json()
    if code is not None:
        assert body["code"] == code
    details = body["details"]
    assert field in details.get("json", details)  # by field: the schema's under `json`, the trial's as is
    assert _woo_stores(settings) == []


def test_keys_for_an_address_without_woocommerce_are_refused(
    api: Any, settings: Settings, shop: Shop, dns: dict[str, list[str]]
) -> None:
    dns["blog.example"] = [SHOP_ADDRESS]
    shop.mock.add(responses.GET, "https://blog.example/wp-json/", json={"name": "A blog"})
    shop.mock.add(
        responses.GET, "https://blog.example/wp-json/wc/v3/data/currencies/current", status=404, json={}
    )
    answer = api(url="https://blog.example")
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "not_woocommerce"
    assert _woo_stores(settings) == []


def test_a_shop_at_a_private_address_is_refused(
    api: Any, settings: Settings, dns: dict[str, list[str]]
) -> None:
    dns["intranet.example"] = ["10.0.0.5"]
    answer = api(url="https://intranet.example")
    assert answer.status_code == 422
    assert answer.get_json()["details"]["url"]
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Store)) == 1  # the API shop only
