"""A CSV import in a browser, in English and Polish, with a real `storepulse worker`: a semicolon file
in Windows-1250 uploaded and checked (its encoding, delimiter and first rows shown before anything is
imported), confirmed, its progress bar followed to the end, its bad rows listed and downloaded equal
to the API's report, and the import listed among the past ones; axe-core on every step."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from integration.accounts import add_store, create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Import, ImportStatus, Platform
from tests.browser import helpers
from tests.browser.dataset import add_owner
from tests.browser.harness import LiveServer
from tests.browser.test_setup import held_worker  # noqa: F401 - fixture
from tests.browser.test_standalone import api, sign_in
from tests.support.builders import bearer

GOOD = 2500  # rows: a few batches, so the bar moves before the end
BAD = {GOOD + 2: "subscription_status", GOOD + 3: "email"}  # row number (the header is row 1): column


def polish_file(folder: Path) -> Path:
    """A customers file as a Polish spreadsheet saves it: semicolons, Windows-1250; two bad rows."""
    lines = ["id;email;first_name;last_name;subscription_status"]
    lines += [f"{i};klient{i}@example.pl;Zofia{i};Wójcik-Żółć;subscribed" for i in range(1, GOOD + 1)]
    lines.append(f"{GOOD + 1};zla@example.pl;Jan;Kowalski;być może")
    lines.append(f"{GOOD + 2};to-nie-adres;Ewa;Łęcka;subscribed")
    path = folder / "klienci.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1250"))
    return path


def shop(settings: Settings, locale: str) -> tuple[int, int, str]:
    """An account with a CSV store and its owner: (account id, store id, owner's email)."""
    email = f"imports-{locale}@example.com"
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
        store_id = add_store(
            session, account_id, platform=Platform.CSV, name="Sklep z pliku", currency="PLN"
        ).id
    add_owner(settings.database_url, account_id, email, locale)
    return account_id, store_id, email


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_a_file_is_checked_imported_and_its_bad_rows_downloaded(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    held_worker: Callable[[], None],  # noqa: F811
    tmp_path: Path,
    locale: str,
) -> None:
    account_id, store_id, email = shop(settings, locale)
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, email)
    page.goto(f"/admin/setup/stores/{store_id}/import")
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator("#past-imports tbody tr")).to_have_count(1)  # the empty state's row
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # Upload: the check says what it found, and nothing is imported yet.
    page.locator("#f-kind").select_option("customers")
    page.locator("#f-file").set_input_files(polish_file(tmp_path))
    page.locator("#import-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"\?import=\d+$"))
    import_id = int(page.url.rsplit("=", 1)[1])
    detected = page.locator("#check-detected")
    expect(detected.locator("[data-check=encoding]")).to_contain_text("1250")
    expect(detected.locator("[data-check=delimiter]")).to_contain_text(";")
    expect(detected.locator("[data-check=matched]")).to_have_text(
        "id, email, first_name, last_name, subscription_status"
    )
    expect(detected.locator("[data-check=rows]")).to_contain_text(re.compile(r"\d"))
    sample = page.locator("#check-sample tbody tr")
    expect(sample).to_have_count(5)
    expect(sample.first).to_contain_text("Wójcik-Żółć")
    helpers.screenshot(page, f"import-check-{locale}")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)

    # Confirmed: the bar shows while the import waits, then a worker takes it to the end.
    page.locator("#start-form button[type=submit]").click()
    expect(page.locator("progress#import-progress")).to_be_visible()
    expect(page.locator("#import-progress-text")).to_contain_text("%")
    helpers.screenshot(page, f"import-progress-{locale}")
    helpers.assert_accessible(page)
    held_worker()
    expect(page.locator("#import-finished")).to_be_visible(timeout=90_000)

    with session_scope(settings.database_url) as session:
        headers = bearer(session, account_id)
    report = api(live_server, page, f"/api/v1/imports/{import_id}", headers)
    assert (report["status"], report["records_written"], report["rows_failed"]) == ("finished", GOOD, 2)
    assert {e["row"]: e["column"] for e in report["errors"]} == BAD
    bad = page.locator("#import-errors tbody tr")
    expect(bad).to_have_count(2)
    listed = [[c.inner_text().strip() for c in row.locator("th, td").all()] for row in bad.all()]
    assert [(int(r[0]), r[1]) for r in listed] == [(e["row"], e["column"]) for e in report["errors"]]

    with page.expect_download() as waiting:
        page.locator("#bad-rows-download").click()
    download = waiting.value
    assert download.suggested_filename == "klienci-bad-rows.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    columns = ["id", "email", "first_name", "last_name", "subscription_status"]
    assert rows[0] == ["row", "column", "reason", *columns]
    assert [r[:3] for r in rows[1:]] == listed
    assert rows[2][3:] == [str(GOOD + 2), "to-nie-adres", "Ewa", "Łęcka", "subscribed"]

    past = page.locator("#past-imports tbody tr")
    expect(past).to_have_count(1)
    expect(past.first).to_contain_text("klienci.csv")
    expect(past.first.get_by_role("link")).to_have_attribute("href", re.compile(rf"import={import_id}$"))
    helpers.screenshot(page, f"import-done-{locale}")
    helpers.assert_accessible(page)


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_a_failed_import_says_why_and_keeps_its_counts(
    page: Page, live_server: LiveServer, settings: Settings, locale: str
) -> None:
    """An import stopped by an error of no row's making (its tries spent) in the merchant's
    language: what failed, why, and what was stored before it; no progress bar left waiting."""
    _, store_id, email = shop(settings, locale)
    why = "the import stopped when the process running it ended; the records stored before it are kept"
    with session_scope(settings.database_url) as session:
        failed = Import(
            store_id=store_id,
            kind="customers",
            filename="klienci.csv",
            status=ImportStatus.FAILED,
            failure=why,
            bytes_total=9_000_000,
            bytes_read=4_100_000,
            rows_read=61_200,
            records_written=60_000,
        )
        session.add(failed)
        session.flush()
        import_id = failed.id
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, email)
    page.goto(f"/admin/setup/stores/{store_id}/import?import={import_id}")
    said = {
        "en": "The import failed. The process running it ended before the file's end. The records stored"
        " until then are kept.",
        "pl": "Import nie powiódł się. Proces, który go wykonywał, zakończył działanie, zanim przetworzono"
        " cały plik. Rekordy zapisane wcześniej zostają zachowane.",
    }[locale]
    expect(page.locator("#import-failed")).to_contain_text(said)
    expect(page.locator("#import-counts")).to_contain_text(re.compile(r"60[\s,.\u00a0\u202f]?000"))
    expect(page.locator("progress#import-progress")).to_have_count(0)
    helpers.screenshot(page, f"import-failed-{locale}")
    helpers.assert_accessible(page)
