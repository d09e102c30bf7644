"""The RFM page in a browser, in English and Polish: the grid equal to `/api/v1/rfm`, a group saved
as a segment with the very contacts of its cells, a scheme with a missing pair refused beside that
cell, all by keyboard, and axe-core on the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from integration import ingest
from integration.accounts import create_account
from integration.analytics import rfm
from integration.audiences import segments
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, RfmScore, Segment, User
from integration.store.types import utcnow
from tests.browser import helpers
from tests.browser.dataset import add_owner, imported_shop
from tests.browser.harness import EmbeddedPage, LiveServer
from tests.browser.test_standalone import api, sign_in
from tests.support.builders import bearer, customer, item, make_store, order

EMAIL = "rfm-owner@example.com"
BUYERS = 24


@pytest.fixture
def shop_data(settings: Settings) -> dict[str, Any]:
    """Twenty-four buyers of one to six orders over a year in EUR and PLN, and four prospects."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
        store = make_store(session, account_id=account_id)
        people = [f"buyer{n}@example.com" for n in range(BUYERS)] + [f"new{n}@example.com" for n in range(4)]
        ingest.ingest_customers(session, store, [customer(str(n), e, now) for n, e in enumerate(people)])
        orders = []
        for n in range(BUYERS):
            for k in range(1 + n % 6):
                orders.append(
                    order(
                        f"o{n}-{k}",
                        now - timedelta(days=(n * 13) % 360 + k * 30 + 1),
                        email=f"buyer{n}@example.com",
                        currency="PLN" if n % 4 == 0 else "EUR",
                        line_items=[item(price=f"{20 + n * 7}.50")],
                    )
                )
        ingest.ingest_orders(session, store, orders)
        rfm.compute(session, account_id)
        segments.refresh_account(session, account_id)  # as the hourly job keeps them
        headers = bearer(session, account_id)
    add_owner(settings.database_url, account_id, EMAIL)
    return {"account": account_id, "headers": headers}


def _set_locale(settings: Settings, locale: str) -> None:
    with session_scope(settings.database_url) as session:
        user = session.scalars(select(User).where(User.email == EMAIL)).one()
        user.locale = locale


def _contacts_in(settings: Settings, account_id: int, *where: Any) -> set[int]:
    with session_scope(settings.database_url) as session:
        return set(
            session.scalars(select(RfmScore.contact_id).where(RfmScore.account_id == account_id, *where))
        )


def _members(settings: Settings, segment_id: int) -> set[int]:
    with session_scope(settings.database_url) as session:
        return set(segments.member_ids(session, segment_id))


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_rfm_grid_segments_and_scheme(
    page: Page, live_server: LiveServer, settings: Settings, shop_data: dict[str, Any], locale: str
) -> None:
    _set_locale(settings, locale)
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, EMAIL)
    account_id = shop_data["account"]

    # Reached from the navigation, after the leaderboard.
    nav = page.locator("nav[aria-label] a")
    hrefs = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    assert hrefs.index("/admin/rfm") == hrefs.index("/admin/leaderboard") + 1
    page.locator("nav[aria-label] a[href='/admin/rfm']").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)

    # Every cell as the API counts it.
    overview = api(live_server, page, "/api/v1/rfm", shop_data["headers"])
    expected = {rfm.cell_key(c["r"], c["f"]): c for c in overview["grid"]}
    cells = page.locator("#rfm-grid td[data-cell]")
    expect(cells).to_have_count(25)
    for i in range(25):
        cell = cells.nth(i)
        key = cell.get_attribute("data-cell") or ""
        assert (
            int(cell.get_attribute("data-contacts") or -1) == expected.get(key, {"contacts": 0})["contacts"]
        )
    assert sum(c["contacts"] for c in overview["grid"]) == BUYERS
    helpers.screenshot(page, f"rfm-page-{locale}")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # Keyboard: Tab reaches a cell's link, the scheme's selects and the save buttons.
    stops = helpers.tab_through(page)
    assert any(stop.startswith("R5 F5") for stop in stops), stops
    assert any(stop.startswith("R1 F1") for stop in stops), stops

    # A cell's group as a segment: the fullest cell's segment page holds exactly the contacts of its cells.
    sizes = {key: c["contacts"] for key, c in expected.items()}
    fullest = max(sizes, key=lambda key: sizes[key])
    name = page.locator(f"#rfm-grid td[data-cell='{fullest}']").get_attribute("data-segment") or ""
    row = page.locator("#segment-table tr", has=page.locator(f"[data-segment-name='{name}']"))
    with page.expect_navigation():
        row.locator("[data-predefined-segment]").focus()
        page.keyboard.press("Enter")
    segment_id = int(page.url.rsplit("/", 1)[1])
    cells_of_segment = _contacts_in(settings, account_id, RfmScore.segment == name)
    assert _members(settings, segment_id) == cells_of_segment
    assert cells_of_segment
    page.go_back()

    # One-time buyers saved as a segment in one step: its page shows, with the tier's contacts.
    save = page.locator("#tier-table [data-save-segment]").first  # one-time buyers, before returning ones
    save.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#member-table")).to_be_visible()
    saved_id = int(page.url.split("?")[0].rsplit("/", 1)[1])
    with session_scope(settings.database_url) as session:
        saved = session.get(Segment, saved_id)
        assert saved is not None
        assert saved.filter == {"orders_count": {"min": 1, "max": 1}}
    assert _members(settings, saved_id) == _contacts_in(settings, account_id, RfmScore.frequency == 1)

    # Saved again: the taken name is said beside the buttons, and the page stays.
    page.goto("/admin/rfm")
    page.locator("#tier-table [data-save-segment]").first.click()
    expect(page.locator("[data-save-error]")).to_be_visible()

    # The scheme with R1 F1 in no segment, by keyboard: refused, the pair named beside its select.
    select = page.locator("#scheme-form select[name='r1f1']")
    select.focus()
    page.keyboard.press("Home")  # the first choice: no segment
    expect(select).to_have_value("")
    page.locator("#scheme-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    slot = page.locator("#scheme-form [data-error-for='r1f1']")
    expect(slot).to_be_visible()
    expect(slot).to_contain_text("R1 F1")
    expect(select).to_have_attribute("aria-invalid", "true")
    expect(select).to_be_focused()
    expect(page.locator("#scheme-form [data-error]")).to_contain_text("R1 F1")
    helpers.screenshot(page, f"rfm-refused-{locale}")
    helpers.assert_accessible(page)
    with session_scope(settings.database_url) as session:
        account = session.get(Account, account_id)
        assert account is not None
        assert account.rfm_scheme is None


def test_the_rfm_page_inside_shopify(embedded_page: EmbeddedPage, settings: Settings, shop: int) -> None:
    """Polaris markup inside the Shopify admin, its links staying embedded, the same grid."""
    owner = imported_shop(settings.database_url, shop)
    with session_scope(settings.database_url) as session:
        rfm.compute(session, owner.account_id)
        cells = {rfm.cell_key(c["r"], c["f"]): c["contacts"] for c in rfm.grid(session, owner.account_id)}
    embedded_page.goto("/admin/rfm")
    page = embedded_page.page
    expect(page.locator("s-page")).to_have_count(1)
    expect(page.locator("link[rel=stylesheet]")).to_have_count(0)
    expect(page.locator("#scheme-form s-select")).to_have_count(25)
    expect(page.locator("#tier-table s-button[data-save-segment]")).to_have_count(2)
    shown = page.locator("#rfm-grid td[data-cell]")
    for i in range(25):
        cell = shown.nth(i)
        assert int(cell.get_attribute("data-contacts") or -1) == cells.get(
            cell.get_attribute("data-cell") or "", 0
        )
    for link in (page.locator("[data-cell-link]").first, page.locator("[data-predefined-segment]").first):
        assert "host=" in (link.get_attribute("href") or "")
    helpers.screenshot(page, "rfm-embedded")
