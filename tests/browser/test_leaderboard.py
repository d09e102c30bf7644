"""The Leaderboard page in a real browser, in English and Polish: its rows equal the API's, the
choice made by keyboard in the form, axe-core, and a message sent from a row's dialog (refused by the
frequency cap, then sent anyway) arriving at a local SMTP server."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from integration import ingest
from integration.accounts import create_account
from integration.campaigns.sends import save_campaign
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import CampaignChannel, CampaignSend, Contact, Sender, SendStatus
from integration.store.types import utcnow
from tests.browser.dataset import add_owner
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import api, sign_in
from tests.support.builders import bearer, customer, make_store, order
from tests.views.test_messages import Inbox, serving

LOCALES = ("en", "pl")
BOARD = "/admin/leaderboard?time_frame=month_to_date"


@pytest.fixture
def board(settings: Settings) -> dict[str, Any]:
    """A Warsaw account's euro store with four customers buying this month; Ann, the top spender,
    was sent an email two days ago, within the 7-day frequency cap. Owners in English and Polish."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Leaderboard shop", "Europe/Warsaw")
        account.frequency_cap_days = 7
        store = make_store(session, "EUR", account_id=account.id, time_zone="Europe/Warsaw")
        people = {"ann": ("Anna", "Nowak"), "bob": ("Piotr", "Wiśniewski"), "cy": ("Zofia", "Mazur")}
        ingest.ingest_customers(
            session,
            store,
            [
                customer(f"c-{p}", f"{p}@example.com", first_name=f, last_name=ln)
                for p, (f, ln) in people.items()
            ],
        )
        hour = now - timedelta(hours=1)
        ingest.ingest_orders(
            session,
            store,
            [
                order("a1", hour, email="ann@example.com", total_price="320.50"),
                order("a2", hour, email="ann@example.com", total_price="80"),
                order("b1", hour, email="bob@example.com", total_price="120"),
                order("c1", hour, email="cy@example.com", total_price="120"),
                order("d1", hour, email="dee@example.com", total_price="45.90"),
            ],
        )
        ann = session.query(Contact).filter_by(account_id=account.id, email="ann@example.com").one()
        campaign = save_campaign(session, account.id, channel=CampaignChannel.EMAIL, name="Autumn sale")
        session.add(
            CampaignSend(
                campaign_id=campaign.id,
                contact_id=ann.id,
                status=SendStatus.SENT,
                sent_at=now - timedelta(days=2),
            )
        )
        headers = bearer(session, account.id)
        data = {"account": account.id, "ann": ann.id, "headers": headers}
    for locale in LOCALES:
        add_owner(settings.database_url, data["account"], f"{locale}@example.com", locale=locale)
    return data


def shown_rows(page: Page) -> list[tuple[int, str]]:
    ranks = page.locator("#leaderboard [data-rank]").evaluate_all("els => els.map(e => +e.dataset.rank)")
    ids = page.locator("#leaderboard [data-customer]").evaluate_all("els => els.map(e => e.dataset.customer)")
    return list(zip(ranks, ids, strict=True))


def api_rows(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(r["rank"], str(r["contact"]["id"])) for r in answer["rows"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_board_equals_the_api_and_is_chosen_by_keyboard(
    page: Page,
    live_server: LiveServer,
    board: dict[str, Any],
    locale: str,
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
    screenshot: Callable[[Page, str], Any],
) -> None:
    sign_in(page, f"{locale}@example.com")
    page.goto(BOARD)
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expected = api(
        live_server, page, "/api/v1/leaderboard?time_frame=month_to_date&limit=25", board["headers"]
    )
    assert shown_rows(page) == api_rows(expected)
    assert [r[0] for r in shown_rows(page)] == [1, 2, 2, 4]  # Bob and Zofia tie on 120 EUR
    expect(page.locator("#leaderboard [data-tie]")).to_have_count(2)
    assert_accessible(page)
    assert_inputs_labelled(page)
    screenshot(page, f"leaderboard-{locale}")

    # The form by keyboard: rank by purchases (the next choice), Tab on to the button, Enter.
    page.locator("#f-rank_by").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#f-rank_by")).to_have_value("purchases")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "rank_by=purchases" in page.url
    expect(page.locator("#f-rank_by")).to_have_value("purchases")
    expected = api(
        live_server,
        page,
        "/api/v1/leaderboard?time_frame=month_to_date&rank_by=purchases&limit=25",
        board["headers"],
    )
    assert shown_rows(page) == api_rows(expected)
    assert shown_rows(page)[0] == (1, str(board["ann"]))


@pytest.mark.parametrize("locale", LOCALES)
def test_a_message_from_a_row_is_refused_by_the_cap_then_sent_anyway(
    page: Page,
    board: dict[str, Any],
    settings: Settings,
    locale: str,
    assert_accessible: Callable[..., None],
    screenshot: Callable[[Page, str], Any],
) -> None:
    with serving(Inbox()) as (inbox, port):
        with session_scope(settings.database_url) as session:
            session.add(
                Sender(
                    account_id=board["account"],
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    from_email="shop@example.com",
                )
            )
        sign_in(page, f"{locale}@example.com")
        page.goto(BOARD)

        # The dialog by keyboard: focus moves in, Escape closes it, focus comes back to the row.
        opener = page.locator(f'[data-message-row="message-{board["ann"]}"]')
        opener.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#message-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("ann@example.com")
        # Focus moves in once the dialog has opened: waited for, not read at once.
        page.wait_for_function(
            "() => document.getElementById('message-dialog').contains(document.activeElement)"
        )
        assert_accessible(page)
        screenshot(page, f"leaderboard-dialog-{locale}")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(opener).to_be_focused()

        # Another row's dialog is that customer's: not contacted, so no warning.
        page.locator("[data-message-row]").nth(1).click()
        expect(page.locator("#message-dialog")).to_be_visible()
        expect(page.locator("#message-dialog #warn-cap")).to_have_count(0)
        page.keyboard.press("Escape")
        expect(page.locator("[data-message-row]").nth(1)).to_be_focused()

        opener.focus()
        expect(opener).to_be_focused()  # kept: the closed dialog's late close event takes it no more
        page.keyboard.press("Enter")
        dialog = page.locator("#message-dialog")
        expect(dialog).to_contain_text("ann@example.com")
        expect(dialog.locator("#warn-cap")).to_be_visible()
        form = dialog.locator("#message-form")
        form.locator('[name="subject"]').fill("Thank you")
        form.locator('[name="body"]').fill("Hello Anna,\nthank you for being our best customer.")
        form.locator('button[type="submit"]').click()
        refusals = json.loads(form.get_attribute("data-refusals") or "{}")
        expect(form.locator("[data-error]")).to_have_text(refusals["recently_contacted"])
        assert inbox.messages == []

        form.locator('[name="override"]').check()
        with page.expect_navigation():
            form.locator('button[type="submit"]').click()
        [(recipients, mail)] = inbox.messages
        assert recipients == ["ann@example.com"]
        assert mail["Subject"] == "Thank you"
    # Back on the board, Ann's dialog now counts the message just sent.
    expect(page.locator("#leaderboard")).to_be_visible()
    assert "leaderboard" in page.url
