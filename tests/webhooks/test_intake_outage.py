"""A database outage while the receivers remember what they looked up answers 503, so the platform
sends the delivery again: the delivery's insert is the only statement then, outside any session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from integration.settings import Settings
from integration.web.app import create_app
from tests.support.shopify import SECRET, SHOP
from webhooks.cache import TimedCache
from webhooks.shopify import SHOPS
from webhooks.signatures import shopify_sign_body, woocommerce_sign_body
from webhooks.woocommerce import SECRETS

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # nothing listens on port 1
BODY = json.dumps({"id": 820982911946154508, "email": "ann@example.com"}).encode()


def _down(settings: Settings, tmp_path: Path) -> Flask:
    return create_app(
        {
            "database_url": NOWHERE,
            "redis_url": settings.redis_url,
            "instance_path": tmp_path,
            "shopify_api_key": "key",
            "shopify_api_secret": SECRET,
        }
    )


def _remembered(app: Flask, name: str, key: object, value: object) -> None:
    """What the receiver read before the outage began, as its own cache keeps it."""
    cache: TimedCache[object, object] = TimedCache()
    cache.get(key, lambda _key: value)
    app.extensions[name] = cache


@pytest.mark.parametrize("known", [True, False], ids=["shop remembered", "shop looked up"])
def test_a_shopify_delivery_during_an_outage_answers_503(
    settings: Settings, tmp_path: Path, known: bool
) -> None:
    app = _down(settings, tmp_path)
    if known:
        _remembered(app, SHOPS, SHOP, 7)
    response = app.test_client().post(
        "/webhooks/shopify",
        data=BODY,
        headers={
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": "w-1",
            "X-Shopify-Hmac-Sha256": shopify_sign_body(SECRET, BODY),
        },
    )
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"


def test_a_woocommerce_delivery_during_an_outage_answers_503(settings: Settings, tmp_path: Path) -> None:
    app = _down(settings, tmp_path)
    _remembered(app, SECRETS, 7, "wc-secret")
    response = app.test_client().post(
        "/webhooks/woocommerce/7",
        data=BODY,
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": "d-1",
            "X-WC-Webhook-Signature": woocommerce_sign_body("wc-secret", BODY),
        },
    )
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"
