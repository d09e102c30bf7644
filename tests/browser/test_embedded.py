"""The admin inside Shopify, through the App Bridge stand-in: page loads verified by `id_token`, the
bounce page's reload with a fresh token, and fetches carrying the session token as Bearer.

Polaris cannot load offline, so its `s-*` elements stay undefined: these tests check the markup
the page hands Polaris, not its look.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account
from tests.browser.dataset import Merchant, imported_shop
from tests.browser.harness import APP_SECRET, EmbeddedPage
from tests.support.session_tokens import decode_session_token
from tests.support.shopify import API_KEY, SHOP

FRAME_POLICY = f"frame-ancestors https://{SHOP} https://admin.shopify.com;"


@pytest.fixture
def shop_data(settings: Settings, shop: int) -> Merchant:
    """The connected Shopify store's account, its history imported: the realistic dataset."""
    return imported_shop(settings.database_url, shop)


def test_the_contacts_page_loads_inside_shopify_as_polaris_markup(
    embedded_page: EmbeddedPage,
    shop_data: Merchant,
    assert_inputs_labelled: Callable[[Page], None],
) -> None:
    page = embedded_page.page
    answer = embedded_page.goto("/admin/")
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["content-security-policy"] == FRAME_POLICY
    expect(page.locator("body")).to_have_class("embedded")
    assert page.locator('meta[name="shopify-api-key"]').get_attribute("content") == API_KEY
    assert page.evaluate("() => window.shopify.config.shop") == SHOP
    # Polaris's page, navigation, cards and tables; none of the standalone skin.
    expect(page.locator("s-page")).to_have_attribute("heading", "Contacts")
    assert page.locator("s-app-nav s-link").first.get_attribute("rel") == "home"
    for group in ("engaged", "unengaged", "blocked"):
        assert page.locator(f"s-section#group-{group} [data-count]").count() == 1
    assert page.locator("s-table#trend-table s-table-row").count() >= 30
    assert page.locator("link[rel=stylesheet], meta[name=csrf-token], .skip, main").count() == 0
    assert page.locator("form[method=post]").count() == 0
    # The subscription tabs stay embedded and never carry the spent token.
    for link in page.locator("s-stack s-button[href]").all():
        query = parse_qs(urlsplit(link.get_attribute("href") or "").query)
        assert query["shop"] == [SHOP]
        assert query["embedded"] == ["1"]
        assert "id_token" not in query
    assert_inputs_labelled(page)


def test_the_embedded_page_takes_shopifys_locale(embedded_page: EmbeddedPage, shop_data: Merchant) -> None:
    embedded_page.goto("/admin/", locale="pl-PL")
    page = embedded_page.page
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    share = page.locator("#group-engaged [data-share]").inner_text()
    assert re.match(r"\d{1,3},\d\d\s?%", share), share


def test_a_load_with_an_expired_token_bounces_and_comes_back_with_a_fresh_one(
    embedded_page: EmbeddedPage, shop_data: Merchant
) -> None:
    page = embedded_page.page
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
    expired = embedded_page.mint(now=time.time() - 3600)
    embedded_page.goto("/admin/?subscription=subscribed", token=expired)
    expect(page.locator("s-page")).to_have_attribute("heading", "Contacts")
    paths = [urlsplit(url).path for url in visited]
    assert paths == ["/admin/bounce", "/admin/"], visited
    bounce = parse_qs(urlsplit(visited[0]).query)
    assert "id_token" not in bounce
    reload = urlsplit(bounce["shopify-reload"][0])
    assert reload.path == "/admin/"
    assert "id_token" not in parse_qs(reload.query)
    landed = parse_qs(urlsplit(page.url).query)
    assert landed["subscription"] == ["subscribed"]
    fresh = landed["id_token"][0]
    assert fresh != expired
    assert decode_session_token(fresh, APP_SECRET, api_key=API_KEY)["dest"] == f"https://{SHOP}"


def test_the_pages_fetches_carry_the_session_token_and_a_bad_one_is_refused(
    embedded_page: EmbeddedPage, shop_data: Merchant
) -> None:
    embedded_page.goto("/admin/")
    page = embedded_page.page
    # admin.js's own fetch, through App Bridge: the session token goes as Bearer.
    answer = page.evaluate("() => window.storepulse.api('GET', '/admin/contacts/freshness')")
    assert answer == {"ok": True, "status": 200, "json": {"ready": True}}
    refused = page.evaluate(
        """async () => {
          const r = await fetch("/admin/contacts/freshness", {headers: {Authorization: "Bearer forged"}});
          return {status: r.status, retry: r.headers.get("X-Shopify-Retry-Invalid-Session-Request")};
        }"""
    )
    assert refused == {"status": 401, "retry": "1"}


def test_a_setting_saved_inside_shopify_goes_by_fetch_with_the_session_token(
    embedded_page: EmbeddedPage, settings: Settings, shop_data: Merchant
) -> None:
    page = embedded_page.page
    embedded_page.goto("/admin/setup/settings")
    form = page.locator("form#settings-form")
    assert form.get_attribute("method") is None  # no plain form post inside Shopify
    sent: list[dict[str, str | None]] = []
    page.on(
        "request",
        lambda request: (
            sent.append({"method": request.method, "authorization": request.headers.get("authorization")})
            if request.url.endswith("/api/v1/settings")
            else None
        ),
    )
    # Polaris's field would hold what the merchant typed; offline the element is bare, so the test
    # sets the value Polaris would expose, and submits as Polaris's submit button does.
    field = form.locator('s-number-field[name="frequency_cap_days"]')
    expect(field).to_have_attribute("label", re.compile(".+"))
    field.evaluate("(element) => { element.value = '21'; }")
    form.evaluate("(element) => element.requestSubmit()")
    expect(page.locator("#app-bridge-stub-toasts")).to_contain_text("Saved")

    assert [r["method"] for r in sent] == ["PUT"]
    scheme, token = str(sent[0]["authorization"]).split(" ")
    assert scheme == "Bearer"
    assert decode_session_token(token, APP_SECRET, api_key=API_KEY)["dest"] == f"https://{SHOP}"
    with session_scope(settings.database_url) as session:
        account = session.get(Account, shop_data.account_id)
        assert account is not None
        assert account.frequency_cap_days == 21


def test_the_trend_lines_are_drawn_inside_shopify(embedded_page: EmbeddedPage, shop_data: Merchant) -> None:
    """Embedded pages load no stylesheet of ours: the chart's colours must be in the SVG itself."""
    embedded_page.goto("/admin/")
    strokes = embedded_page.page.locator("svg.chart polyline").evaluate_all(
        "(lines) => lines.map((line) => getComputedStyle(line).stroke)"
    )
    assert len(strokes) == 3
    assert "none" not in strokes


EMBEDDED_PAGES = (
    "/admin/",
    "/admin/setup",
    "/admin/setup/stores",
    "/admin/setup/stores/{store}/import",
    "/admin/setup/storefront",
    "/admin/setup/keys",
    "/admin/setup/email",
    "/admin/setup/settings",
)
POLARIS_FIELDS = (
    "s-text-field, s-number-field, s-email-field, s-password-field, s-url-field, s-select, s-text-area"
)


def test_every_embedded_page_gives_polaris_labelled_fields_and_passes_axe(
    embedded_page: EmbeddedPage,
    shop_data: Merchant,
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
) -> None:
    page = embedded_page.page
    problems = []
    for path in EMBEDDED_PAGES:
        answer = embedded_page.goto(path.format(store=shop_data.store_ids[0]))
        assert answer is not None
        assert answer.status == 200, path
        assert page.locator("s-page").count() == 1, path
        assert page.locator("form[method=post]").count() == 0, path
        unlabelled = page.locator(POLARIS_FIELDS).evaluate_all(
            "(fields) => fields.filter((f) => !(f.getAttribute('label') || '').trim())"
            ".map((f) => f.outerHTML)"
        )
        problems += [f"{path}: a Polaris field without a label: {html[:160]}" for html in unlabelled]
        for check in (lambda: assert_accessible(page), lambda: assert_inputs_labelled(page)):
            try:
                check()
            except AssertionError as failed:
                problems.append(f"{path}: {failed}")
    assert not problems, "\n".join(problems)
