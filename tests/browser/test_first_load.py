"""A shop's first opening of the app inside Shopify, in a browser: the managed install finished by
token exchange on that load, and the backfill's progress on the page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import responses
from playwright.sync_api import Page, expect
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store, StoreState
from tests.browser.harness import EmbeddedPage, LiveServer
from tests.web.admin.test_first_load import SHOP, TOKEN_URL, shopify


def test_the_first_load_connects_the_shop_and_shows_the_backfill_progress(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    run_worker: Callable[[], bool],
    screenshot: Callable[[Page, str], Path],
) -> None:
    newcomer = EmbeddedPage(page, live_server, shop=SHOP)
    # Shopify's side, answered in this process, where the test server runs.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        shopify(mock)
        answer = newcomer.goto("/admin/")
        assert answer is not None
        assert answer.status == 200
        assert [c.request.url for c in mock.calls][0] == TOKEN_URL
        expect(page.locator("s-page")).to_have_attribute("heading", "Contacts")
        banner = page.locator("#backfill")
        expect(banner).to_have_count(1)
        waiting = banner.inner_text().strip()
        assert waiting
        assert banner.locator("[data-poll]").count() == 1
        screenshot(page, "first-load-embedded")
        # The backfill's jobs ask Shopify for bulk exports: the page says so at its next poll.
        run_worker()
        expect(banner.locator("[data-poll-text]")).not_to_have_text(waiting, timeout=20_000)
    with session_scope(settings.database_url) as session:
        store = session.scalar(select(Store).where(Store.shop_domain == SHOP))
        assert store is not None
        assert store.state is StoreState.CONNECTED
