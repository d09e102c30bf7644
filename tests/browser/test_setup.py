"""Setting up without a command line, in a browser with a real worker: add a CSV store, import a
file and follow it, see the contacts, change the time frame and watch the recount finish, make and
revoke an API key. test_pages.py runs the page checks on each Setup page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import responses
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, Platform, Store
from tests.browser.dataset import Merchant, empty_account, merchant
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import GROUPS, api, expected, figures, sign_in
from tests.support.builders import bearer
from tests.support.woocommerce import KEY, SECRET, SHOP_ADDRESS, Shop, customer, order
from tests.support.workers import start_worker, stop

# A customers file in storepulse's own columns: 48 good rows and one whose status is no status.
CUSTOMERS = 48


def customers_csv(folder: Path) -> Path:
    """Write the customers file to upload; return its path."""
    statuses = ("subscribed", "subscribed", "unknown", "unsubscribed")
    lines = ["id,email,first_name,last_name,subscription_status"]
    lines += [
        f"{i},buyer{i}@example.com,Anna{i},Nowak,{statuses[i % len(statuses)]}"
        for i in range(1, CUSTOMERS + 1)
    ]
    lines.append(f"{CUSTOMERS + 1},odd@example.com,Odd,Row,perhaps")
    path = folder / "customers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def shop_owner(settings: Settings) -> Merchant:
    """The realistic merchant: two stores, a few hundred contacts, a month of history."""
    return merchant(settings.database_url)


def test_add_a_csv_store_import_a_file_and_see_its_contacts_equal_the_api(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    worker: object,
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    owner = empty_account(settings.database_url)
    sign_in(page, owner.email)
    # A new account's Contacts page says what is missing and leads to the setup.
    expect(page.locator("#contacts-empty")).to_contain_text("No store connected yet")
    expect(page.locator("[data-count]")).to_have_count(0)
    page.get_by_role("link", name="Go to setup").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Setup")
    expect(page.locator("#steps-table")).to_contain_text("To do")
    page.get_by_role("navigation", name="Setup").get_by_role("link", name="Stores").click()
    expect(page.locator("#stores-table")).to_contain_text("No store yet")

    # A currency that is no ISO code is refused beside its field, and the store is not added.
    form = page.locator("#store-form")
    form.get_by_label("Name").fill("Pracownia Lniana")
    form.get_by_label("Data comes from").select_option("csv")
    form.get_by_label("Currency").fill("ZLOTY")
    form.get_by_role("button", name="Add the store").click()
    expect(form.locator('[data-error-for="currency"]')).to_be_visible()
    expect(form.get_by_label("Currency")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Currency").fill("PLN")
    form.get_by_label("Currency").press("Enter")
    expect(page.locator("#stores-table")).to_contain_text("Pracownia Lniana")
    expect(page.locator("#stores-table")).to_contain_text("PLN")
    expect(page.locator("#stores-table")).to_contain_text("Europe/Warsaw")
    screenshot(page, "setup-stores-en")

    page.get_by_role("link", name="Import a CSV file into Pracownia Lniana").click()
    page.get_by_label("The file holds").select_option("customers")
    page.get_by_label("CSV file").set_input_files(customers_csv(tmp_path))
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"\?import=\d+$"))
    expect(page.locator("#check-detected")).to_contain_text("storepulse's own columns")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-finished")).to_be_visible(timeout=60_000)
    counts = dict(
        zip(
            page.locator("#import-counts dt").all_inner_texts(),
            page.locator("#import-counts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert counts["Rows read"] == str(CUSTOMERS + 1)
    assert counts["Records written"] == str(CUSTOMERS)
    assert counts["Bad rows"] == "1"
    bad = page.locator("#import-errors tbody tr")
    expect(bad).to_have_count(1)
    assert bad.first.locator("th, td").first.inner_text() == str(CUSTOMERS + 2)  # the header is row 1
    expect(bad.first).to_contain_text("subscription_status")
    screenshot(page, "import-en")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    with session_scope(settings.database_url) as session:
        headers = bearer(session, owner.account_id)
    stats = api(live_server, page, "/api/v1/contacts/stats", headers)
    assert sum(stats["groups"][g]["count"] for g in GROUPS) > 0
    for group in GROUPS:
        assert figures(page, group) == expected(stats, group), group


@pytest.fixture
def held_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """`start()` starts a `storepulse worker` when the test is ready to see its work finish."""
    started = []

    def start() -> None:
        started.append(start_worker(settings, log=tmp_path / "worker.log"))

    yield start
    for process in started:
        stop(process)


def test_a_new_time_frame_shows_the_recount_and_then_its_numbers(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    shop_owner: Merchant,
    held_worker: Callable[[], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    sign_in(page, shop_owner.email)
    expect(page.locator(".frame")).to_contain_text("Time frame: 180 days")
    page.get_by_role("link", name="Change the time frame").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    field = page.get_by_label("Time frame in days")
    expect(field).to_have_value("180")
    field.fill("30")
    field.press("Enter")

    # Back on the Contacts page: the old numbers, saying a recount runs, until a worker does it.
    expect(page).to_have_url(re.compile(r"/admin/$"))
    banner = page.locator("#reclassifying")
    expect(banner).to_contain_text("30 days")
    expect(page.locator(".frame")).to_contain_text("Time frame: 30 days")
    screenshot(page, "contacts-recounting-en")
    held_worker()
    expect(banner).to_have_count(0, timeout=60_000)

    with session_scope(settings.database_url) as session:
        account = session.get(Account, shop_owner.account_id)
        assert account is not None
        assert account.engagement_window_days == 30
        headers = bearer(session, shop_owner.account_id)
    stats = api(live_server, page, "/api/v1/contacts/stats", headers)
    assert stats["time_frame_days"] == 30
    for group in GROUPS:
        assert figures(page, group) == expected(stats, group), group


def test_an_api_key_is_shown_once_and_revoked_after_a_confirmation(
    page: Page, settings: Settings, shop_owner: Merchant
) -> None:
    sign_in(page, shop_owner.email)
    page.goto("/admin/setup/keys")
    page.get_by_label("Name").fill("Warehouse sync")
    page.get_by_role("button", name="Make the key").press("Enter")
    token = page.locator("#new-token")
    expect(token).to_have_text(re.compile(r"\S{20,}"))
    shown = token.inner_text()
    # The key works on the API, and the page never shows it again.
    assert page.request.get("/api/v1/contacts/stats", headers={"Authorization": f"Bearer {shown}"}).ok
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("Warehouse sync")
    assert shown not in page.content()

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.locator("#keys-table").get_by_role("button", name="Revoke").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#keys-table").get_by_role("button", name="Revoke")).to_have_count(0)
    assert len(questions) == 1
    assert "Warehouse sync" in questions[0]
    answer = page.request.get("/api/v1/contacts/stats", headers={"Authorization": f"Bearer {shown}"})
    assert answer.status == 401


def test_a_woocommerce_shop_connected_by_its_keys_in_polish_by_keyboard(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    run_worker: Callable[[], bool],
    dns: dict[str, list[str]],
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
) -> None:
    owner = empty_account(settings.database_url, locale="pl")
    dns["shop.example"] = [SHOP_ADDRESS]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        shop = Shop(mock)
        mock.add_passthru(live_server.url)
        shop.customers = [customer(300 + i, f"klient{i}@example.com") for i in range(130)]
        shop.orders = [order(8000 + i, f"klient{i}@example.com") for i in range(40)]
        sign_in(page, owner.email)
        page.goto("/admin/setup/stores")
        form = page.locator("#woocommerce-keys-form")
        # Over http (this server) the authorization is not offered: the keys are.
        expect(page.locator("#woocommerce-form")).to_have_count(0)
        form.get_by_label("Adres sklepu").focus()
        page.keyboard.type("https://shop.example")
        page.keyboard.press("Tab")
        page.keyboard.type(KEY)
        page.keyboard.press("Tab")
        page.keyboard.type("cs_" + "x" * 40)  # not the shop's secret
        page.keyboard.press("Enter")
        refused = form.locator('[data-error-for="consumer_key"]')
        expect(refused).to_have_text(
            "WooCommerce odrzucił te klucze: utwórz klucze z uprawnieniami Odczyt/Zapis "
            "i wklej obie części ponownie."
        )
        expect(form.get_by_label("Klucz klienta (consumer key)")).to_have_attribute("aria-invalid", "true")
        screenshot(page, "woocommerce-keys-refused-pl")

        form.get_by_label("Sekret klienta (consumer secret)").fill(SECRET)
        with page.expect_navigation():  # saved, then the page reloads
            form.get_by_label("Sekret klienta (consumer secret)").press("Enter")
        expect(page.locator("#stores-table")).to_contain_text("Shop Example")
        expect(page.locator("#stores-table")).to_contain_text("WooCommerce")
        expect(page.locator("#stores-table")).to_contain_text("EUR")
        run_worker()  # the set-up job, then the backfill's slices
        page.reload()
        with session_scope(settings.database_url) as session:
            store_id = session.scalars(select(Store.id).where(Store.platform == Platform.WOOCOMMERCE)).one()
        table = page.locator(f"#backfill-{store_id}")
        expect(table.locator("tbody tr")).to_have_count(2)
        expect(table).to_contain_text("130")
        expect(table).to_contain_text("40")
        assert_accessible(page)
        screenshot(page, "setup-stores-woocommerce-pl")
    assert len(shop.webhooks) == 6
