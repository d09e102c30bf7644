"""Shopify ID ("session") tokens and embedded page-load queries, as the Shopify admin makes them.

The claims follow a real App Bridge token (see reference/admin-ui.md): `iss` is the shop's admin,
`dest` the shop, `aud` the app's client id, and the token lives 60 seconds from `nbf`.

PyJWT warns about HS256 secrets shorter than 32 bytes (and warnings fail the tests), so the app of
an embedded test is made with the longer secrets here: mark the test (or module) with EMBEDDED.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
import pytest
from _pytest.mark import ParameterSet
from flask import Flask
from werkzeug.test import TestResponse

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store
from tests.support.shopify import API_KEY, SHOP, app_of
from webhooks.signatures import shopify_sign_query

TOKEN_SECONDS = 60


def session_token(
    secret: str,
    *,
    api_key: str,
    shop: str,
    sub: str = "1",
    now: float | None = None,
    nbf_offset: float = 0,
    **claims: Any,
) -> str:
    """Mint an HS256 session token of `shop` for the app `api_key`; `claims` replace or add claims.

    `nbf_offset` moves `nbf` (and with it `exp`) from `now`, as App Bridge's clock skew does.
    """
    issued = int(time.time() if now is None else now)
    not_before = issued + int(nbf_offset)
    payload: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": sub,
        "exp": not_before + TOKEN_SECONDS,
        "nbf": not_before,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_session_token(token: str, secret: str, *, api_key: str) -> dict[str, Any]:
    """Decode and check a session token as Shopify's libraries do (10 s leeway); raise if it is invalid."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=api_key,
        leeway=10,
        options={"require": ["exp", "nbf", "iss", "dest", "aud", "sub"]},
    )
    return claims


def admin_host(shop: str) -> str:
    """The `host` parameter the admin passes: base64 of the shop's admin address."""
    store = shop.removesuffix(".myshopify.com")
    return base64.urlsafe_b64encode(f"admin.shopify.com/store/{store}".encode()).decode().rstrip("=")


def embedded_query(
    secret: str, *, api_key: str, shop: str, locale: str = "en", token: str | None = None
) -> dict[str, str]:
    """The query of a page load inside the admin: `embedded=1`, host, id_token, locale, session,
    shop, timestamp, and the `hmac` Shopify signs them with."""
    params = {
        "embedded": "1",
        "host": admin_host(shop),
        "id_token": token or session_token(secret, api_key=api_key, shop=shop),
        "locale": locale,
        "session": uuid.uuid4().hex,
        "shop": shop,
        "timestamp": str(int(time.time())),
    }
    params["hmac"] = shopify_sign_query(secret, params)
    return params


SECRET = "shpss_current_secret_of_the_embedded_app_tests"
OLD_SECRET = "shpss_previous_secret_of_the_embedded_app_tests"
EMBEDDED = pytest.mark.shopify_app(shopify_api_secret=SECRET, shopify_api_secret_previous=OLD_SECRET)
DROP = object()  # a claim given this value is left out of the token


def claims(shop: str = SHOP, **changes: Any) -> dict[str, Any]:
    """A session token's claims as Shopify issues them for `shop`, changed by `changes`."""
    now = int(time.time())
    made: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": API_KEY,
        "sub": "42",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": "f8a5b2c7e1d94c3aa7c5d2e8b9f0a1c3",
    }
    made.update(changes)
    return {name: value for name, value in made.items() if value is not DROP}


def mint(shop: str = SHOP, *, secret: str = SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    """A session token of `shop` signed with `secret` (the app's current one by default)."""
    return jwt.encode(claims(shop, **changes), secret, algorithm=algorithm)


def fetch_headers(token: str) -> dict[str, str]:
    """The headers App Bridge adds to a page's fetch."""
    return {"Authorization": f"Bearer {token}"}


# Shopify's answer header to a fetch whose token was refused: App Bridge retries with a fresh one.
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def page_load(token: str, shop: str = SHOP, **extra: str) -> dict[str, str]:
    """The query Shopify puts on an embedded app's page load (unsigned: the token is what counts)."""
    return {
        "embedded": "1",
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc25vd2Rldmls",
        "id_token": token,
        "locale": "en",
        "session": "a1b2c3",
        "shop": shop,
        "timestamp": "1764790000",
        **extra,
    }


def invalid_tokens(*more: ParameterSet) -> list[ParameterSet]:
    """Tokens Shopify might send that must be refused (made when the test runs, so none has expired
    by accident): an expired one, one for another app, one signed with another secret; and `more`."""
    return [
        pytest.param(lambda: mint(exp=1, nbf=0), id="expired"),
        pytest.param(lambda: mint(aud="another-app"), id="audience"),
        pytest.param(lambda: mint(secret="shpss_some_other_apps_secret_of_32_bytes"), id="secret"),
        *more,
    ]


def assert_told_to_retry(answer: TestResponse) -> None:
    """The request was refused as unauthorized with the header that makes App Bridge retry it."""
    assert answer.status_code == 401
    assert answer.headers[RETRY_HEADER] == "1"


def embedded_app(settings: Settings, store_id: int, account_id: int | None = None) -> tuple[Flask, str]:
    """The app inside Shopify's admin and the query of a page load of its connected shop.

    The app's secret is long enough for HS256; with `account_id`, the store moves to that account
    first, so the page shows that account's data.
    """
    if account_id is not None:
        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            assert store is not None
            store.account_id = account_id
    app = app_of(settings, shopify_api_secret=SECRET)
    return app, f"embedded=1&shop={SHOP}&host=aG9zdA&locale=en&id_token={mint(secret=SECRET)}"
