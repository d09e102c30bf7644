"""The customer profile in a real browser, in English and Polish: all orders and an order's items
opened by keyboard, a letter's PDF in its frame, the message dialog by keyboard, and a message
refused by the frequency cap, then sent anyway to a local SMTP server and shown on the profile."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Sender
from tests.browser.dataset import add_owner
from tests.browser.test_standalone import sign_in
from tests.views.test_messages import Inbox, serving
from tests.web.admin.test_customer_page import build_ann

LOCALES = ("en", "pl")


@pytest.fixture
def profile(settings: Settings) -> dict[str, Any]:
    """Ann's profile, and owners who read it in English and in Polish."""
    data = build_ann(settings.database_url)
    for locale in LOCALES:
        add_owner(settings.database_url, data["account"], f"{locale}@example.com", locale=locale)
    return data


@pytest.mark.parametrize("locale", LOCALES)
def test_orders_and_a_letters_pdf_open_on_the_profile(
    page: Page,
    profile: dict[str, Any],
    locale: str,
    assert_accessible: Callable[..., None],
    screenshot: Callable[[Page, str], Any],
) -> None:
    sign_in(page, f"{locale}@example.com")
    page.goto(f"/admin/contacts/{profile['ann']}")
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator("[data-order-detail]")).to_have_count(10)
    assert_accessible(page)
    screenshot(page, f"customer-{locale}")

    with page.expect_navigation():
        page.locator("[data-all-orders]").click()
    expect(page.locator("[data-order-detail]")).to_have_count(12)
    # An order's items open from the keyboard.
    first = page.locator("[data-order-detail]").first
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("open", "")
    expect(first.locator("[data-line]")).to_have_count(1)
    expect(first.locator("[data-adds-up]")).to_be_visible()

    # Chromium's own PDF viewer loads its files from chrome:// and its extension: the browser's,
    # not the page's requests, so they are turned away without failing the test.
    page.context.route(
        lambda url: url.startswith(("chrome://", "chrome-extension://")), lambda route: route.abort()
    )
    letter = page.locator('[data-preview="application/pdf"]')
    letter.locator("summary").click()
    frame = letter.locator("iframe")
    expect(frame).to_be_visible()
    source = frame.get_attribute("src")
    assert source is not None
    answer = page.request.get(source)
    assert answer.ok
    assert answer.headers["content-type"] == "application/pdf"
    # The email's frame runs no script: sandboxed by its attribute.
    assert page.locator('[data-preview^="text/html"] iframe').get_attribute("sandbox") == ""


@pytest.mark.parametrize("locale", LOCALES)
def test_a_message_is_refused_by_the_frequency_cap_then_sent_anyway_and_shown(
    page: Page,
    profile: dict[str, Any],
    settings: Settings,
    locale: str,
    assert_accessible: Callable[..., None],
) -> None:
    with serving(Inbox()) as (inbox, port):
        with session_scope(settings.database_url) as session:
            session.add(
                Sender(
                    account_id=profile["account"],
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    from_email="shop@example.com",
                )
            )
        sign_in(page, f"{locale}@example.com")
        page.goto(f"/admin/contacts/{profile['ann']}")
        expect(page.locator("#cap-warning")).to_be_visible()

        # The dialog by keyboard: focus moves in, Escape closes it, focus comes back.
        opener = page.locator('[data-dialog-open="message-dialog"]')
        opener.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#message-dialog")
        expect(dialog).to_be_visible()
        # Focus moves in once the dialog has opened: waited for, not read at once.
        page.wait_for_function(
            "() => document.getElementById('message-dialog').contains(document.activeElement)"
        )
        assert_accessible(page)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(opener).to_be_focused()

        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#warn-cap")).to_be_visible()
        form = dialog.locator("#message-form")
        form.locator('[name="subject"]').fill("Your parcel")
        form.locator('[name="body"]').fill("Hello Ann,\nyour parcel is on its way.")
        form.locator('button[type="submit"]').click()
        refusals = json.loads(form.get_attribute("data-refusals") or "{}")
        expect(form.locator("[data-error]")).to_have_text(refusals["recently_contacted"])
        assert inbox.messages == []

        form.locator('[name="override"]').check()
        with page.expect_navigation():
            form.locator('button[type="submit"]').click()
        [(recipients, mail)] = inbox.messages
        assert recipients == ["ann@example.com"]
        assert mail["Subject"] == "Your parcel"
    sent = page.locator("[data-send]").filter(has_text="Your parcel")
    expect(sent).to_have_count(1)
    expect(sent.locator("[data-cap-overridden]")).to_be_visible()
    expect(sent.locator('[data-send-status="sent"]')).to_be_visible()
