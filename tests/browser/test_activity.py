"""The contact's activity page in a real browser: axe-clean in English and Polish, older activity
reached by keyboard, and every entry shown once across the pages."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import User
from tests.browser import helpers
from tests.browser.dataset import add_owner
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import sign_in
from tests.support.activity import START, record_everything, shop


def test_the_activity_page_by_keyboard_in_english_and_polish(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        here = shop(session)
        for n, label in enumerate(("a", "b", "c")):  # 54 entries: two pages
            record_everything(session, here, here.contact_id, start=START + timedelta(days=n), label=label)
    email = "activity-owner@example.com"
    add_owner(settings.database_url, here.account_id, email, "en")
    sign_in(page, email)

    page.goto(f"/admin/contacts/{here.contact_id}/activity")
    expect(page.locator("h1")).to_have_text("Activity of Anna")
    entries = page.locator("[data-entry]")
    expect(entries).to_have_count(50)
    helpers.screenshot(page, "activity-en")
    helpers.assert_accessible(page)
    stops = helpers.tab_through(page)
    assert "Back to the contact" in stops
    assert stops[-1] == "Older activity"

    first_page = entries.evaluate_all("(items) => items.map((i) => i.dataset.kind + i.dataset.at)")
    page.get_by_role("link", name="Older activity").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(entries).to_have_count(4)
    second_page = entries.evaluate_all("(items) => items.map((i) => i.dataset.kind + i.dataset.at)")
    assert len(set(first_page) | set(second_page)) == 54
    expect(page.get_by_role("link", name="Newest activity")).to_be_visible()
    expect(page.get_by_role("link", name="Older activity")).to_have_count(0)

    page.set_extra_http_headers({"Accept-Language": "pl"})
    with session_scope(settings.database_url) as session:
        owner = session.query(User).filter_by(email=email).one()
        owner.locale = "pl"
    page.goto(f"/admin/contacts/{here.contact_id}/activity")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    helpers.screenshot(page, "activity-pl")
    helpers.assert_accessible(page)
