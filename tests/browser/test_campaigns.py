"""The Campaigns pages in a browser, in English and Polish: the list's numbers equal the API's, a
campaign reached by keyboard with its results equal to `/results`, a version opened in its
sandboxed frame, a letter's PDF in the page, and every page checked by axe-core."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from integration.settings import Settings
from tests.browser.dataset import add_owner
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import sign_in
from tests.web.admin.test_campaigns_page import FIRST_HTML, SECOND_HTML, build_campaigns

LOCALES = ("en", "pl")


@pytest.fixture
def shop_data(settings: Settings, live_server: LiveServer, page: Page) -> dict[str, Any]:
    """The campaigns of `build_campaigns`, recorded through the running server's API, and owners who
    read them in English and in Polish."""

    def post(path: str, headers: dict[str, str], body: Any) -> Any:
        answer = page.request.post(
            f"{live_server.url}{path}",
            data=json.dumps(body),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert answer.ok, answer.text()
        return answer.json()

    data = build_campaigns(settings.database_url, post)
    for locale in LOCALES:
        add_owner(settings.database_url, data["account"], f"{locale}@example.com", locale=locale)
    return data


def _heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("locale", LOCALES)
def test_campaigns_their_numbers_and_a_preview(
    page: Page,
    live_server: LiveServer,
    shop_data: dict[str, Any],
    locale: str,
    assert_accessible: Callable[..., None],
    assert_inputs_labelled: Callable[[Page], None],
    tab_through: Callable[..., list[str]],
    screenshot: Callable[[Page, str], Any],
) -> None:
    headers = shop_data["headers"]
    sign_in(page, f"{locale}@example.com")
    page.locator("nav[aria-label] a[href='/admin/campaigns']").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)

    # The list: each campaign's numbers as the API gives them.
    api = page.request.get(f"{live_server.url}/api/v1/campaigns", headers=headers).json()["campaigns"]
    rows = page.locator("#campaign-list tbody tr")
    expect(rows).to_have_count(len(api))
    for row, campaign in zip(rows.all(), api, strict=True):
        expect(row.locator("[data-campaign]")).to_have_attribute("data-campaign", str(campaign["id"]))
        for key in ("sends", "opened", "clicked", "scanned", "ordered"):
            expect(row.locator(f"[data-{key}]")).to_have_attribute(f"data-{key}", str(campaign[key]))
        amounts = [
            {"currency": r.get_attribute("data-revenue"), "amount": r.get_attribute("data-amount")}
            for r in row.locator("[data-amount]").all()
        ]
        assert amounts == campaign["revenue"]
    spring = rows.filter(has=page.locator(f"[data-campaign='{shop_data['email']}']"))
    expect(spring.locator("[data-revenue]")).to_have_count(2)  # euros and złoty, never added
    expect(spring.locator("[data-median]")).to_have_attribute("data-median", "3.5")
    screenshot(page, f"campaigns-{locale}")
    assert_accessible(page)
    assert_inputs_labelled(page)
    assert "Spring sale" in tab_through(page)

    # A campaign, reached by keyboard.
    page.locator(f"[data-campaign='{shop_data['email']}']").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    results = page.request.get(
        f"{live_server.url}/api/v1/campaigns/{shop_data['email']}/results", headers=headers
    ).json()
    facts = page.locator("#result-facts")
    for key in ("sends", "opened", "clicked", "scanned", "ordered"):
        expect(facts.locator(f"[data-{key}]")).to_have_attribute(f"data-{key}", str(results[key]))
    for status, count in results["by_status"].items():
        expect(facts.locator(f"[data-status='{status}']")).to_have_attribute("data-count", str(count))
    expect(page.locator("#send-table tbody tr")).to_have_count(results["sends"])
    expect(page.locator("#order-table [data-order]")).to_have_text(["#1001", "#2001"])
    expect(page.locator("[data-window]")).to_contain_text("7")

    # The newest version shows in its sandboxed frame; the first opens from the keyboard.
    versions = page.locator("[data-version]")
    expect(versions).to_have_count(2)
    newest = versions.nth(0).locator("iframe")
    assert newest.get_attribute("sandbox") == ""
    expect(page.frame_locator("[data-version] >> nth=0 >> iframe").locator("h1")).to_have_text(
        _heading(SECOND_HTML)
    )
    versions.nth(1).locator("summary").focus()
    page.keyboard.press("Enter")
    expect(versions.nth(1)).to_have_attribute("open", "")
    expect(page.frame_locator("[data-version] >> nth=1 >> iframe").locator("h1")).to_have_text(
        _heading(FIRST_HTML)
    )
    # The sandbox kept the second version's script from running.
    assert page.frame_locator("[data-version] >> nth=0 >> iframe").locator("script").count() == 1
    screenshot(page, f"campaign-{locale}")
    assert_accessible(page)
    assert_inputs_labelled(page)

    # A letter: its PDF in the page.
    page.context.route(
        lambda url: url.startswith(("chrome://", "chrome-extension://")), lambda route: route.abort()
    )
    page.goto(f"/admin/campaigns/{shop_data['letter']}")
    letter = page.locator('[data-version][data-preview="application/pdf"]')
    expect(letter).to_have_attribute("open", "")
    frame = letter.locator("iframe")
    expect(frame).to_be_visible()
    source = frame.get_attribute("src")
    assert source is not None
    answer = page.request.get(source)
    assert answer.ok
    assert answer.headers["content-type"] == "application/pdf"
    screenshot(page, f"campaign-letter-{locale}")
    assert_accessible(page)

    # A campaign with no sends says so.
    page.goto(f"/admin/campaigns/{shop_data['quiet']}")
    expect(page.locator("#no-sends")).to_be_visible()
    assert_accessible(page)
