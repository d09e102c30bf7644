"""Storefront tracking in a real browser: the merchant lists the shop's address on Setup →
Storefront tracking, pastes the snippet shown there into a shop page on another origin, and a
visitor's product view reaches the collector across origins, goes through the real worker and
makes the contact engaged; without consent the snippet stores and sends nothing."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect
from sqlalchemy import select

from integration.contacts import engagement
from integration.contract import StorefrontRecord
from integration.ingest.storefront import ingest_storefront
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    Contact,
    EngagementStatus,
    InboxDelivery,
    InteractionEvent,
    Store,
    StoreCustomer,
)
from integration.store.types import utcnow
from tests.browser import stub
from tests.browser.dataset import Merchant, merchant
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import sign_in
from tests.support.workers import wait_for


@pytest.fixture
def shop_owner(settings: Settings) -> Merchant:
    return merchant(settings.database_url)


def _shop_address(live_server: LiveServer) -> str:
    """The shop: the same machine under another name, so another origin (the collector's is 127.0.0.1)."""
    return live_server.url.replace("127.0.0.1", "localhost")


def _unengaged_customer(settings: Settings, store_id: int) -> tuple[int, str]:
    with session_scope(settings.database_url) as session:
        row = session.execute(
            select(Contact.id, Contact.email)
            .join(StoreCustomer, StoreCustomer.contact_id == Contact.id)
            .where(
                StoreCustomer.store_id == store_id, Contact.engagement_status == EngagementStatus.UNENGAGED
            )
            .order_by(Contact.id)
            .limit(1)
        ).one()
        return row[0], row[1]


def add_storefront_visits(database_url: str, store_id: int, emails: list[str]) -> None:
    """An hour of a snippet's visitors on the store (whose shop address is listed): product views
    and add-to-carts, a third of the visitors identified as known contacts."""
    now = utcnow()
    with session_scope(database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        store.allowed_origins = ["https://linen-studio.example"]
        records = []
        for i in range(36):
            visitor, at = f"visitor-{i}", now - timedelta(minutes=60 - i)
            if i % 3 == 0:
                records.append(
                    StorefrontRecord(f"id-{i}", "identify", at, visitor, email=emails[i % len(emails)])
                )
            kind = "add_to_cart" if i % 4 == 0 else "product_view"
            records.append(StorefrontRecord(f"ev-{i}", kind, at, visitor, product_id=f"LINEN-{i % 5}"))
        outcome = ingest_storefront(session, store, records)
        engagement.classify(session, store.account_id, outcome.contact_ids)


@pytest.fixture
def shop_pages() -> Iterator[dict[str, str]]:
    """The shop pages the test server serves under /_test/shop/<name>, emptied after the test."""
    yield stub.SHOP_PAGES
    stub.SHOP_PAGES.clear()


def test_a_pasted_snippet_makes_a_visitors_view_count_on_their_contact(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    shop_owner: Merchant,
    shop_pages: dict[str, str],
    worker: object,
    screenshot: Callable[[Page, str], Path],
) -> None:
    store_id = shop_owner.store_ids[1]  # the API store: a shop on another platform
    address = _shop_address(live_server)
    sign_in(page, shop_owner.email)
    page.goto("/admin/setup")
    page.get_by_role("navigation", name="Setup").get_by_role("link", name="Storefront tracking").click()
    card = page.locator(f"#storefront-{store_id}")
    expect(card.locator(f"#origins-missing-{store_id}")).to_be_visible()

    # A line that is no shop address is refused, and the reason names it.
    box = card.get_by_label("Shop addresses")
    box.fill(f"{address}/\nshop.example.com/cart")
    card.get_by_role("button", name="Save the addresses").click()
    expect(card.locator("[data-error]")).to_contain_text("shop.example.com/cart is not a shop address")
    box.fill(f"{address}/\n\n")
    card.get_by_role("button", name="Save the addresses").click()
    expect(card.locator(f"#origins-missing-{store_id}")).to_have_count(0)  # the page reloads
    expect(page.locator(f"#storefront-{store_id}").get_by_label("Shop addresses")).to_have_value(address)
    screenshot(page, "storefront-origins-en")

    snippet = page.locator(f"#snippet-{store_id}").inner_text()
    contact_id, email = _unengaged_customer(settings, store_id)
    visit = snippet.replace('// storepulse("consent", true);', 'storepulse("consent", true);')
    visit = visit.replace(
        "</script>\n<script async",
        f'  storepulse("identify", {{ email: "{email}" }});\n'
        '  storepulse("view", { product_id: "LINEN-1", title: "Linen shirt",'
        ' price: "29.90", currency: "EUR" });\n'
        "</script>\n<script async",
        1,
    )
    shop_pages["linen-shirt"] = visit
    with page.expect_response(lambda r: r.url.endswith("/collect")) as answered:
        page.goto(f"{address}/_test/shop/linen-shirt")
    response = answered.value
    # (A keepalive request's body is not kept for Playwright to read: what was taken is checked below.)
    assert response.status == 202
    assert response.headers["access-control-allow-origin"] == address
    assert page.evaluate("localStorage.getItem('storepulse_vid')")

    def engaged() -> bool:
        with session_scope(settings.database_url) as session:
            contact = session.get(Contact, contact_id)
            return contact is not None and contact.engagement_status == EngagementStatus.ENGAGED

    assert wait_for(engaged, 30), "the product view did not reach the contact"
    with session_scope(settings.database_url) as session:
        [delivery] = session.scalars(select(InboxDelivery).where(InboxDelivery.source == "storefront")).all()
        assert delivery.store_id == store_id
        assert [e["type"] for e in json.loads(delivery.body)["events"]] == [
            "page_view",
            "identify",
            "product_view",
        ]
    with session_scope(settings.database_url) as session:
        view = session.scalars(
            select(InteractionEvent).where(
                InteractionEvent.source == "storefront", InteractionEvent.contact_id == contact_id
            )
        ).one()
        assert (view.product_id, view.attributes["title"], view.attributes["price"]) == (
            "LINEN-1",
            "Linen shirt",
            "29.90",
        )
        assert session.get(Contact, contact_id).subscription_status is not None  # untouched by the claim


def test_without_consent_the_snippet_stores_and_sends_nothing(
    page: Page, live_server: LiveServer, settings: Settings, shop_owner: Merchant, shop_pages: dict[str, str]
) -> None:
    store_id = shop_owner.store_ids[1]
    address = _shop_address(live_server)
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        store.allowed_origins = [address]
        key = store.public_key
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/collect") else None)
    loader = (
        "<script>window.storepulse = window.storepulse"
        " || function () { (storepulse.q = storepulse.q || []).push(arguments); };"
        f'storepulse("init", {{ key: "{html.escape(key)}", url: "{live_server.url}/collect" }});'
        'storepulse("page"); storepulse("view", { product_id: "LINEN-1" });</script>'
        f'<script async src="{live_server.url}/storepulse.js"></script>'
    )
    shop_pages["no-consent"] = loader
    page.goto(f"{address}/_test/shop/no-consent")
    page.wait_for_function("window.storepulse && window.storepulse.loaded === true")
    page.wait_for_timeout(600)  # past the snippet's batching delay
    assert sent == []
    assert page.evaluate("localStorage.getItem('storepulse_vid')") is None
    assert page.evaluate("document.cookie") == ""
    # Granted later: what waited is sent then.
    with page.expect_request(lambda r: r.url.endswith("/collect")) as posted:
        page.evaluate('storepulse("consent", true)')
    request: Request = posted.value
    assert [e["type"] for e in request.post_data_json["events"]] == ["page_view", "product_view"]
