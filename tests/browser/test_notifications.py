"""Notifications in a browser with a real worker: ask for a segment's export, see the header's unread
count appear, open the notifications and download the CSV file from the notice's link."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from integration.settings import Settings
from tests.browser.dataset import merchant
from tests.browser.test_standalone import sign_in

WAIT_SECONDS = 60


def fetch(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the API from the page as admin.js does: the cookie session with the page's CSRF token."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const answer = await fetch(path, {method, headers: {"Content-Type": "application/json",
                "X-CSRFToken": token}, body: body === null ? undefined : JSON.stringify(body)});
            return {status: answer.status, json: await answer.json()};
        }""",
        [method, path, body],
    )


def test_an_export_tells_its_requester_and_downloads_from_the_notification(
    page: Page,
    settings: Settings,
    worker: object,
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
) -> None:
    owner = merchant(settings.database_url)
    sign_in(page, owner.email)
    link = page.locator("header.top a.notifications-link")
    expect(link).to_have_attribute("data-unread", "0")
    expect(link.locator(".count")).to_have_count(0)

    made = fetch(page, "POST", "/api/v1/segments", {"name": "Engaged", "filter": {"engagement": ["engaged"]}})
    assert made["status"] == 201, made
    asked = fetch(page, "POST", f"/api/v1/segments/{made['json']['id']}/exports")
    assert asked["status"] == 202, asked

    # The worker writes the file; the header shows the notice on the next page the owner opens.
    deadline = time.monotonic() + WAIT_SECONDS
    while link.get_attribute("data-unread") == "0" and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(link).to_have_attribute("data-unread", "1")
    expect(link).to_have_attribute("aria-label", "1 unread notification")
    expect(link.locator(".count")).to_have_text("1")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(link).to_have_attribute("aria-current", "page")
    notice = page.locator("#notifications [data-notification]")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("The export of Engaged is ready")
    assert_accessible(page)
    screenshot(page, "notifications-en")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download the CSV file").click()
    saved = tmp_path / "export.csv"
    downloading.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    # The file holds the segment's members, as the API lists them, and as many as the notice says.
    members = fetch(page, "GET", f"/api/v1/segments/{made['json']['id']}/members?limit=1000")["json"]
    assert members["contacts"]
    assert [r["email"] for r in rows] == [c["email"] for c in members["contacts"]]
    assert f"ready: {len(rows)} contacts" in notice.inner_text()

    # Mark all read by keyboard: the count leaves the header.
    page.get_by_role("button", name="Mark all read").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notifications [data-notification]")).to_have_attribute("data-read", "yes")
    expect(link).to_have_attribute("data-unread", "0")
    expect(link.locator(".count")).to_have_count(0)
