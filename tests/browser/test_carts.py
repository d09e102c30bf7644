"""The Carts page in a browser, in English and Polish: its numbers equal the API's for the period shown
and for a quick choice, a wrong period refused, a contact followed to the profile by keyboard, and
axe-core finding nothing serious."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect
from sqlalchemy import select

from integration import ingest
from integration.accounts import create_account
from integration.commerce.carts import mark_abandoned
from integration.store import session_scope
from integration.store.models import Store, User
from integration.store.types import utcnow
from tests.browser import helpers
from tests.browser.dataset import add_owner
from tests.browser.harness import EmbeddedPage, LiveServer
from tests.browser.test_standalone import api, sign_in
from tests.support.builders import bearer, checkout, item, make_store, order
from tests.support.shopify import SHOP

EMAIL = "carts-owner@example.com"
SCARF = item("Linen scarf", "45.00", product="scarf")
APRON = item("Linen apron", "89.00", product="apron")


def add_recent_carts(database_url: str, account_id: int, eur_id: int, pln_id: int) -> None:
    """Carts of the last weeks in EUR and PLN: recovered by token, cart token and product, and open
    ones with their recovery links; times relative to now, so the default period holds them."""
    now = utcnow()
    with session_scope(database_url) as session:
        eur, pln = session.get(Store, eur_id), session.get(Store, pln_id)
        assert eur is not None
        assert pln is not None
        ingest.ingest_checkouts(
            session,
            eur,
            [
                checkout(
                    "eur-token",
                    now - timedelta(days=3, hours=2),
                    email="anna.nowak@example.com",
                    line_items=[SCARF, APRON, item("Gift wrap", "5.00", product="wrap")],
                    total_price="139.00",
                ),
                checkout(
                    "eur-open",
                    now - timedelta(days=2),
                    email="jan.kowalski@example.com",
                    line_items=[APRON],
                    total_price="89.00",
                    recovery_url="https://pracownia.example/checkouts/eur-open/recover",
                ),
                checkout(
                    "eur-old-open",
                    now - timedelta(days=12),
                    email="ewa.zielinska@example.com",
                    line_items=[SCARF],
                    total_price="45.00",
                    recovery_url="https://pracownia.example/checkouts/eur-old-open/recover",
                ),
            ],
        )
        ingest.ingest_checkouts(
            session,
            pln,
            [
                checkout(
                    "pln-cart",
                    now - timedelta(days=5),
                    email="piotr.wisniewski@example.com",
                    cart_token="c-pln",
                    currency="PLN",
                    line_items=[item("Lniany obrus", "249.00", product="obrus")],
                    total_price="249.00",
                ),
                checkout(
                    "pln-product",
                    now - timedelta(days=20),
                    email="marta.wojcik@example.com",
                    currency="PLN",
                    line_items=[item("Serwetki lniane", "79.50", 2, product="serwetki")],
                    total_price="159.00",
                ),
            ],
        )
        mark_abandoned(session, now=now)
        ingest.ingest_orders(
            session,
            eur,
            [
                order(
                    "eur-o1",
                    now - timedelta(days=2, hours=20),
                    email="anna.nowak@example.com",
                    checkout_token="eur-token",
                    name="#1041",
                    line_items=[SCARF, APRON, item("Gift wrap", "5.00", product="wrap")],
                )
            ],
        )
        ingest.ingest_orders(
            session,
            pln,
            [
                order(
                    "pln-o1",
                    now - timedelta(days=4),
                    email="piotr.wisniewski@example.com",
                    cart_token="c-pln",
                    currency="PLN",
                    name="#2207",
                    line_items=[item("Lniany obrus", "249.00", product="obrus")],
                ),
                order(
                    "pln-o2",
                    now - timedelta(days=19),
                    email="marta.wojcik@example.com",
                    currency="PLN",
                    name="#2150",
                    line_items=[item("Serwetki lniane", "79.50", 2, product="serwetki")],
                ),
            ],
        )


@pytest.fixture
def shop_data(settings: Any) -> dict[str, Any]:
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
        eur = make_store(session, "EUR", account_id=account_id).id
        pln = make_store(session, "PLN", account_id=account_id).id
        headers = bearer(session, account_id)
    add_recent_carts(settings.database_url, account_id, eur, pln)
    add_owner(settings.database_url, account_id, EMAIL)
    return {"account": account_id, "headers": headers}


def _shown(page: Page) -> dict[str, Any]:
    return {
        "abandoned": int(page.locator("[data-abandoned]").get_attribute("data-abandoned") or -1),
        "recovered": int(page.locator("[data-recovered]").get_attribute("data-recovered") or -1),
        "revenue": [
            (r.get_attribute("data-revenue"), r.get_attribute("data-amount"))
            for r in page.locator("[data-revenue]").all()
        ],
    }


def _expected(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "abandoned": stats["abandoned"],
        "recovered": stats["recovered"],
        "revenue": [(r["currency"], r["amount"]) for r in stats["recovered_revenue"]],
    }


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_the_carts_page_shows_the_apis_numbers_and_leads_to_the_profile(
    page: Page, live_server: LiveServer, settings: Any, shop_data: dict[str, Any], locale: str
) -> None:
    with session_scope(settings.database_url) as session:
        user = session.scalars(select(User).where(User.email == EMAIL)).one()
        user.locale = locale
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, EMAIL)
    page.locator("nav[aria-label] a[href='/admin/carts']").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)

    # The default period: its days as the form shows them, the numbers as the API counts them.
    first, last = page.locator("#f-from").input_value(), page.locator("#f-to").input_value()
    stats = api(live_server, page, f"/api/v1/carts/stats?from={first}&to={last}", shop_data["headers"])
    assert (
        _shown(page)
        == _expected(stats)
        == {
            "abandoned": 5,
            "recovered": 3,
            "revenue": [("EUR", "139.00"), ("PLN", "408.00")],
        }
    )
    for currency, amount in _expected(stats)["revenue"]:
        words = format_currency(amount, currency, locale=locale)
        expect(page.locator(f"[data-revenue='{currency}']")).to_contain_text(words)
    listed = api(live_server, page, f"/api/v1/carts?from={first}&to={last}", shop_data["headers"])["carts"]
    rows = page.locator("#carts-table [data-cart]")
    assert [int(r.get_attribute("data-cart") or 0) for r in rows.all()] == [c["id"] for c in listed]
    helpers.screenshot(page, f"carts-{locale}")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # A quick choice: the last 7 days hold three of the carts.
    page.locator("nav.tabs a").first.click()
    first, last = page.locator("#f-from").input_value(), page.locator("#f-to").input_value()
    week = api(live_server, page, f"/api/v1/carts/stats?from={first}&to={last}", shop_data["headers"])
    assert _shown(page) == _expected(week)
    assert week["abandoned"] == 3

    # Only the open carts, then a recovery link copied.
    page.locator("#cart-list nav.tabs a").nth(1).click()
    states = [r.get_attribute("data-state") for r in page.locator("#carts-table [data-cart]").all()]
    assert states == ["abandoned"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.locator("[data-copy]").first
    copy.click()
    expect(page.locator("#live")).to_have_text(copy.get_attribute("data-copied") or "")
    assert page.evaluate("navigator.clipboard.readText()") == copy.get_attribute("data-copy")

    # A period ending before it starts is refused, beside the form.
    page.locator("#f-from").fill("2026-06-20")
    page.locator("#f-to").fill("2026-06-10")
    page.locator("#period-form button[type=submit]").click()
    expect(page.locator("[data-period-error]")).to_have_count(1)
    helpers.assert_accessible(page)

    # By keyboard: from the first contact of the list to its profile.
    page.goto("/admin/carts?state=recovered")
    link = page.locator("#carts-table [data-contact-link]").first
    email = link.inner_text().strip()
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/admin/contacts/{link_id(listed, email)}")
    expect(page.locator("main")).to_contain_text(email)


def link_id(carts: list[dict[str, Any]], email: str) -> int:
    """The contact id the API gives for a cart of `email`."""
    return next(c["contact"]["id"] for c in carts if c["contact"] and c["contact"]["email"] == email)


def test_the_carts_page_inside_shopify(embedded_page: EmbeddedPage, settings: Any, shop: int) -> None:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        account_id = store.account_id
        pln = make_store(session, "PLN", account_id=account_id).id
        headers = bearer(session, account_id)
    add_recent_carts(settings.database_url, account_id, shop, pln)
    page = embedded_page.page
    answer = embedded_page.goto("/admin/carts")
    assert answer is not None
    assert answer.status == 200
    expect(page.locator("s-page")).to_have_attribute("heading", "Carts")
    first = page.locator("#period-form [name=from]").get_attribute("value")
    last = page.locator("#period-form [name=to]").get_attribute("value")
    answer = page.request.get(f"/api/v1/carts/stats?from={first}&to={last}", headers=headers)
    assert _shown(page) == _expected(answer.json())
    # The period form and every link stay embedded, and never carry the spent token.
    kept = {i.get_attribute("name") for i in page.locator("#period-form input[type=hidden]").all()}
    assert {"embedded", "shop", "host"} <= kept
    links = page.locator("s-link[data-contact-link], s-stack s-button[href]").all()
    assert links
    for link in links:
        query = parse_qs(urlsplit(link.get_attribute("href") or "").query)
        assert query["shop"] == [SHOP]
        assert query["embedded"] == ["1"]
        assert "id_token" not in query
    helpers.screenshot(page, "carts-embedded")
