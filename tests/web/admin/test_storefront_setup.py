"""Setup → Storefront tracking: the snippet with the store's key, the shop addresses it may post
from, the Shopify pixel's state, and what arrived in the last day."""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.accounts import add_store
from integration.contract import StorefrontRecord
from integration.ingest import ingest_customers
from integration.ingest.storefront import ingest_storefront
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Platform, Store
from tests.support.builders import customer, make_store
from tests.support.session_tokens import embedded_app
from tests.web.admin.test_setup import make_user, sign_in

APP_URL = "http://127.0.0.1:8000"  # the settings' default APP_URL


@pytest.fixture
def stores(settings: Settings) -> dict[str, Any]:
    with session_scope(settings.database_url) as session:
        site = make_store(session)
        shopify = add_store(
            session,
            site.account_id,
            platform=Platform.SHOPIFY,
            name="Pulse Shopify",
            currency="PLN",
            shop_domain="pulse.myshopify.com",
        )
        return {
            "account": site.account_id,
            "site": site.id,
            "site_key": site.public_key,
            "shopify": shopify.id,
            "shopify_key": shopify.public_key,
        }


@pytest.fixture
def owner(app: Flask, settings: Settings, stores: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    sign_in(client, make_user(settings, stores["account"]))
    return client


def _card(html: str, store_id: int) -> str:
    start = html.index(f'id="storefront-{store_id}"')
    following = re.compile(r'id="storefront-\d+"').search(html, start + 10)
    return html[start : following.start() if following else len(html)]


def test_a_site_store_shows_its_snippet_with_its_key_and_asks_for_its_address(
    owner: FlaskClient, stores: dict[str, Any]
) -> None:
    html = owner.get("/admin/setup/storefront").get_data(as_text=True)
    card = _card(html, stores["site"])
    snippet = html_lib.unescape(
        re.search(r'<pre class="code" translate="no" id="snippet-\d+"[^>]*><code>(.*?)</code>', card, re.S)[1]
    )
    config = json.loads(re.search(r'storepulse\("init", (\{.*?\})\);', snippet)[1])
    assert config == {"key": stores["site_key"], "url": f"{APP_URL}/collect"}
    assert f'<script async src="{APP_URL}/storepulse.js"></script>' in snippet
    assert 'storepulse("consent", true)' in snippet
    assert f'id="origins-missing-{stores["site"]}"' in card
    assert f'data-action="/api/v1/stores/{stores["site"]}"' in card
    assert 'data-method="PATCH"' in card
    assert 'data-type="lines"' in card
    # The Shopify store needs no snippet: its pixel is switched on at connect.
    shopify = _card(html, stores["shopify"])
    assert "<pre" not in shopify
    assert f'id="pixel-waiting-{stores["shopify"]}"' in shopify
    assert stores["shopify_key"] in shopify


def test_listed_addresses_are_shown_and_the_warning_goes(
    owner: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    with session_scope(settings.database_url) as session:
        session.get(Store, stores["site"]).allowed_origins = [
            "https://shop.example.com",
            "https://www.example.com",
        ]
    card = _card(owner.get("/admin/setup/storefront").get_data(as_text=True), stores["site"])
    assert "origins-missing" not in card
    assert re.search(r"<textarea[^>]*>https://shop.example.com\nhttps://www.example.com</textarea>", card)


def test_what_arrived_in_the_last_day_is_counted(
    owner: FlaskClient, settings: Settings, stores: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        shopify = session.get(Store, stores["shopify"])
        ingest_customers(session, shopify, [customer("101", "ann@example.com", now - timedelta(days=3))])
        ingest_storefront(
            session,
            shopify,
            [
                StorefrontRecord(
                    "e1", "product_view", now - timedelta(minutes=5), "v1", customer_id="101", product_id="p"
                ),
                StorefrontRecord(
                    "e2", "add_to_cart", now - timedelta(minutes=4), "v1", customer_id="101", product_id="p"
                ),
                StorefrontRecord("e3", "product_view", now - timedelta(minutes=3), "v2", product_id="p"),
                StorefrontRecord("e4", "product_view", now - timedelta(days=2), "v3", product_id="p"),
            ],
        )
    card = _card(owner.get("/admin/setup/storefront").get_data(as_text=True), stores["shopify"])
    facts = {
        name: re.search(rf"<dd {name}>([^<]*)</dd>", card)[1]
        for name in ("data-visitors", "data-known", "data-counted")
    }
    assert facts == {"data-visitors": "2", "data-known": "1", "data-counted": "2"}
    assert "pixel-waiting" not in card
    assert re.search(r"<dd data-last-event>[^<]*\d", card)


def test_the_page_renders_embedded(shopify_settings: Settings, shop: int) -> None:
    app, query = embedded_app(shopify_settings, shop)
    html = app.test_client().get(f"/admin/setup/storefront?{query}").get_data(as_text=True)
    assert "<s-page" in html
    assert "pixel-waiting" in html
