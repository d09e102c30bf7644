"""The standalone admin in a browser: signing in and out, the Contacts page against the API, its tabs
and movements by keyboard, and the page checks (axe-core, labels, Tab order) on each page."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import User
from tests.browser.dataset import PASSWORD, Merchant, empty_account, merchant
from tests.browser.harness import LiveServer
from tests.support.builders import bearer

GROUPS = ("engaged", "unengaged", "blocked")
# The subscription tabs as they are visited: the page opens on "Both", so it comes last.
TABS = {"Subscribed": "subscribed", "Unknown": "unknown", "Both": "subscribed_unknown"}


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, by keyboard alone: type, Tab, type, Enter."""
    page.goto("/admin/signin")
    page.get_by_label("Email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def api(live_server: LiveServer, page: Page, path: str, headers: dict[str, str]) -> Any:
    """The JSON API's answer to GET `path` with an API key, from outside the page."""
    answer = page.request.get(live_server.url + path, headers=headers)
    assert answer.ok, answer.text()
    return answer.json()


def figures(page: Page, group: str) -> dict[str, Any]:
    """What a group's card shows: its count, share and order value rows, as text."""
    card = page.locator(f"#group-{group}")
    shown: dict[str, Any] = {"count": card.locator("[data-count]").inner_text()}
    if card.locator("[data-share]").count():
        shown["share"] = card.locator("[data-share]").inner_text()
    # A row per measure (order value, customer value, number of orders), a column per currency.
    table = card.locator(f"#value-{group}")
    currencies = [c.strip() for c in table.locator("thead th").all_inner_texts()[1:]]
    measures = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]
    shown["value"] = [
        # The number of orders has up to two decimals: 1.5 shows as "1.5", 2.00 as "2".
        [currency, measures[0][i], measures[1][i], Decimal(measures[2][i].replace(",", ""))]
        for i, currency in enumerate(currencies)
    ]
    return shown


def _money(amount: str, currency: str) -> str:
    symbol = {"EUR": "€", "PLN": "PLN", "USD": "$"}[currency]
    whole, cents = amount.split(".")
    return f"{symbol}{int(whole):,}.{cents}"


def expected(stats: dict[str, Any], group: str) -> dict[str, Any]:
    """What a group's card should show in English, from the API's statistics."""
    data = stats["groups"][group]
    want: dict[str, Any] = {"count": f"{data['count']:,}"}
    if "percent" in data:
        want["share"] = f"{data['percent']}% of engaged and unengaged"
    want["value"] = [
        [
            v["currency"],
            _money(v["aov"], v["currency"]),
            _money(v["acv"], v["currency"]),
            Decimal(v["ano"]),
        ]
        for v in data["value"]
    ]
    return want


@pytest.fixture
def shop_owner(settings: Settings) -> Merchant:
    """The realistic merchant: two stores, a few hundred contacts, five weeks of history."""
    return merchant(settings.database_url)


def test_a_wrong_password_and_an_unknown_email_get_the_same_message(
    page: Page,
    settings: Settings,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
    tab_through: Callable[[Page], list[str]],
) -> None:
    owner = empty_account(settings.database_url)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/signin\?next=/admin/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to storepulse")
    screenshot(page, "signin-en")
    assert_accessible(page)
    assert_inputs_labelled(page)
    stops = tab_through(page)
    assert stops[0] == "Skip to content"
    assert stops[-3:] == ["Email", "Password", "Sign in"]

    messages = []
    for email, password in ((owner.email, "not the password"), ("nobody@example.com", PASSWORD)):
        sign_in(page, email, password)
        alert = page.locator(".banner")
        expect(alert).to_be_visible()
        messages.append(alert.inner_text())
        expect(page).to_have_url(re.compile(r"/admin/signin"))
    assert messages == ["The email or password is not right."] * 2
    screenshot(page, "signin-wrong-password-en")
    assert_accessible(page)


def test_sign_in_see_the_cards_equal_the_api_on_every_tab_and_sign_out(
    page: Page, live_server: LiveServer, settings: Settings, shop_owner: Merchant
) -> None:
    with session_scope(settings.database_url) as session:
        headers = bearer(session, shop_owner.account_id)
    sign_in(page, shop_owner.email)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    tabs = page.get_by_role("navigation", name="Subscription status")
    expect(tabs.locator("[aria-current=page]")).to_have_text("Both")

    for label, value in (
        ("Subscribed", "subscribed"),
        ("Unknown", "unknown"),
        ("Both", "subscribed_unknown"),
    ):
        tabs.get_by_role("link", name=label).focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(rf"subscription={value}$"))
        expect(tabs.locator("[aria-current=page]")).to_have_text(label)
        stats = api(live_server, page, f"/api/v1/contacts/stats?subscription={value}", headers)
        for group in GROUPS:
            assert figures(page, group) == expected(stats, group), (label, group)
        shares = [stats["groups"][g]["percent"] for g in ("engaged", "unengaged")]
        assert sum(map(float, shares)) == pytest.approx(100.0)

    # Sign out by keyboard; the session is gone.
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/signin$"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/signin\?next="))


def test_the_movements_open_by_keyboard_and_add_up_to_the_30_day_change(
    page: Page,
    shop_owner: Merchant,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
    tab_through: Callable[[Page], list[str]],
) -> None:
    sign_in(page, shop_owner.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    for group in GROUPS:
        details = page.locator(f"#group-{group} details[data-change]")
        assert details.get_attribute("open") is None
        details.locator("summary").focus()
        page.keyboard.press("Space" if group == "engaged" else "Enter")
        expect(details).to_have_attribute("open", "")
        pairs = details.locator("dd").all_inner_texts()
        then, new, moved_in, moved_out, gone, now = (int(re.sub(r"[^0-9]", "", p)) for p in pairs)
        assert now - then == new + moved_in - moved_out - gone
        change = details.locator("summary span").first.inner_text()
        assert int(change.replace("−", "-").replace(",", "")) == now - then
    # The trend's table opens the same way, with a row per day.
    trend = page.locator("#trend details")
    trend.locator("summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("#trend-table tbody tr").count() >= 30
    assert page.locator("#trend svg").count() == 1
    screenshot(page, "contacts-open-en")
    assert_accessible(page)
    assert_inputs_labelled(page)
    stops = tab_through(page)
    for name in ("Skip to content", "Contacts", "Subscribed", "Unknown", "Both", "Sign out"):
        assert name in stops
    # The four disclosures: three movements and the trend's numbers.
    assert sum(1 for s in stops if re.search(r"in 30 days", s)) == 3
    assert "The numbers behind the chart" in stops


def test_a_user_switches_the_admin_to_polish_on_the_profile_page(
    page: Page, settings: Settings, shop_owner: Merchant, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, shop_owner.email)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name=shop_owner.email).click()
    language = page.get_by_label("Language of the admin")
    language.select_option(label="Polski")
    page.locator("#language-form").get_by_role("button").press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    with session_scope(settings.database_url) as session:
        user = session.query(User).filter_by(email=shop_owner.email).one()
        assert user.locale == "pl"
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kontakty")
    share = page.locator("#group-engaged [data-share]").inner_text()
    assert re.match(r"\d{1,3},\d\d\s?%", share), share


def test_an_invited_member_joins_once_by_the_link_and_cannot_manage_keys(
    page: Page,
    browser: Browser,
    live_server: LiveServer,
    shop_owner: Merchant,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
) -> None:
    sign_in(page, shop_owner.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    form = page.locator("#invite-form")
    form.get_by_label("Email").fill("colleague@example.com")
    form.get_by_label("Role").select_option("member")
    form.get_by_role("button", name="Create invitation").press("Enter")
    link = page.locator("[data-result] [data-result-field=url]")
    expect(link).to_have_text(re.compile(r"/admin/invitations/\S+$"))
    url = link.inner_text()

    # The invited person, in a browser of their own.
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    reached: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_server.url)
            else (reached.append(route.request.url), route.abort())[-1]
        ),
    )
    try:
        guest = context.new_page()
        guest.goto(url)
        expect(guest.get_by_role("heading", level=1)).to_be_visible()
        screenshot(guest, "invitation-en")
        assert_accessible(guest)
        assert_inputs_labelled(guest)
        guest.get_by_label("Password", exact=True).fill("a new member's password")
        guest.get_by_label("Password again").fill("a new member's password")
        with guest.expect_navigation():
            guest.get_by_label("Password again").press("Enter")
        expect(guest.get_by_role("heading", level=1)).to_have_text("Contacts")
        nav = guest.get_by_role("navigation", name="Main")
        # No Users for a member.
        links = [
            "Contacts",
            "Contact list",
            "Segments",
            "Leaderboard",
            "RFM",
            "Carts",
            "Campaigns",
            "Syncs",
            "Setup",
        ]
        expect(nav.get_by_role("link")).to_have_text(links)
        answer = guest.goto("/admin/setup/keys")
        assert answer is not None
        assert answer.status == 403
        expect(guest.locator("#keys-table")).to_have_count(0)
        # The link worked once.
        answer = guest.goto(url)
        assert answer is not None
        assert answer.status == 410
    finally:
        context.close()
    assert reached == []


def test_the_polish_contacts_page_passes_the_axe_checks(
    page: Page, settings: Settings, shop_owner: Merchant, assert_accessible: Callable[..., None]
) -> None:
    with session_scope(settings.database_url) as session:
        session.query(User).filter_by(email=shop_owner.email).one().locale = "pl"
    sign_in(page, shop_owner.email)
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    assert_accessible(page)
