"""The browser harness itself: the live server and worker, the App Bridge stand-in, the network
guard, and the accessibility and keyboard checks (each shown to catch what it is for)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Page, expect

from integration.settings import Settings
from jobs.ingest import request_drain
from tests.browser import helpers
from tests.browser.harness import APP_SECRET, EmbeddedPage, chromium_executable
from tests.support.processes import wait_for
from tests.support.session_tokens import admin_host, decode_session_token
from tests.support.shopify import API_KEY, SHOP
from tests.support.workers import store_orders

# The status page: at `/` until the admin pages move it to `/status`.
STATUS = "/status"


def _cell_after(page: Page, header: str) -> str:
    """The text of the inbox table's cell under `header`."""
    headers = page.locator("table").nth(1).locator("th").all_inner_texts()
    return page.locator("table").nth(1).locator("td").nth(headers.index(header)).inner_text()


def test_the_status_page_lists_the_queues_and_passes_the_page_checks(
    page: Page,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
    tab_through: Callable[[Page], list[str]],
    assert_inputs_labelled: Callable[[Page], None],
) -> None:
    answer = page.goto(STATUS)
    assert answer is not None
    assert answer.status == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text("storepulse")
    expect(page.get_by_role("cell", name="ingest", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="compute", exact=True)).to_be_visible()
    shot = screenshot(page, "status")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert_accessible(page)
    assert_inputs_labelled(page)
    assert tab_through(page) == ["/api/v1/openapi.json"]


def test_the_status_page_follows_a_real_worker_draining_the_inbox(
    page: Page, settings: Settings, shop: int, worker: object
) -> None:
    stored = store_orders(settings, shop, 3, seed=11)
    page.goto(STATUS)
    assert _cell_after(page, "Pending") == str(len(stored))
    assert request_drain(settings, "shopify", shop)

    def drained() -> bool:
        page.reload()
        return _cell_after(page, "Processed") == "3" and "Workers online: 1" in page.inner_text("body")

    wait_for(drained, "the worker to drain the inbox")
    assert _cell_after(page, "Pending") == "0"


def test_the_stand_in_configures_app_bridge_from_the_page_and_its_query(embedded_page: EmbeddedPage) -> None:
    embedded_page.goto("/_test/embedded", locale="pl")
    config = embedded_page.page.evaluate("() => window.shopify.config")
    assert config == {"apiKey": API_KEY, "shop": SHOP, "host": admin_host(SHOP), "locale": "pl"}


def test_id_token_is_a_session_token_the_test_secret_signs(embedded_page: EmbeddedPage) -> None:
    embedded_page.goto("/_test/embedded")
    token = embedded_page.token()
    claims = decode_session_token(token, APP_SECRET, api_key=API_KEY)
    assert (claims["iss"], claims["dest"]) == (f"https://{SHOP}/admin", f"https://{SHOP}")
    assert claims["aud"] == API_KEY
    assert claims["exp"] == claims["nbf"] + 60
    assert {"sub", "iat", "jti", "sid"} <= set(claims)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "shpss_" + "f" * 32, algorithms=["HS256"], audience=API_KEY)
    assert embedded_page.token() != token  # a fresh token (jti) each time


def test_fetch_from_the_page_carries_a_bearer_session_token(
    embedded_page: EmbeddedPage,
    screenshot: Callable[[Page, str], Path],
    assert_accessible: Callable[..., None],
    tab_through: Callable[[Page], list[str]],
    assert_inputs_labelled: Callable[[Page], None],
) -> None:
    page = embedded_page.page
    embedded_page.goto("/_test/embedded")
    page.get_by_label("Note").fill("hello")
    page.get_by_role("button", name="Call the echo endpoint").click()
    expect(page.locator("#answer")).to_contain_text("Bearer ")
    echoed = page.evaluate("() => JSON.parse(document.getElementById('answer').textContent)")
    assert (echoed["method"], echoed["body"]) == ("POST", "hello")
    scheme, token = echoed["authorization"].split(" ")
    assert scheme == "Bearer"
    assert decode_session_token(token, APP_SECRET, api_key=API_KEY)["dest"] == f"https://{SHOP}"
    expect(page.get_by_role("status")).to_have_text("Echoed")
    assert page.evaluate("() => window.shopify.toast.shown.map(t => t.message)") == ["Echoed"]
    screenshot(page, "harness-embedded")
    assert_accessible(page)
    assert_inputs_labelled(page)
    assert tab_through(page) == ["Note", "Call the echo endpoint"]


def test_a_session_token_refused_with_the_retry_header_is_replaced_once(embedded_page: EmbeddedPage) -> None:
    embedded_page.goto("/_test/embedded")
    key = uuid.uuid4().hex
    answer = embedded_page.page.evaluate(
        "async (url) => { const r = await fetch(url); return {status: r.status, body: await r.json()}; }",
        f"/_test/reject-once/{key}",
    )
    assert answer["status"] == 200
    assert answer["body"]["authorization"].startswith("Bearer ")


def test_requests_beyond_the_test_server_are_aborted_and_recorded(
    page: Page, blocked_requests: list[str]
) -> None:
    page.goto(STATUS)
    outcome = page.evaluate(
        "async (url) => { try { await fetch(url); return 'reached'; } catch (e) { return 'failed'; } }",
        "https://cdn.shopify.com/shopifycloud/app-bridge.js",
    )
    assert outcome == "failed"
    assert blocked_requests == ["https://cdn.shopify.com/shopifycloud/app-bridge.js"]
    blocked_requests.clear()  # provoked on purpose: the page fixture would fail the test for it


BROKEN = """<!doctype html><html><head><title>Broken</title></head><body><main><h1>Broken</h1>
<input id="bare"><input id="hinted" placeholder="Email"><input id="titled" title="Phone">
<label for="named">Name</label><input id="named">
<input id="hidden-away" style="display:none"><button></button><a href="#top">Top</a>
<div id="host"></div></main></body></html>"""


def _broken(page: Page) -> None:
    page.set_content(BROKEN)
    page.evaluate(
        """() => document.getElementById("host").attachShadow({mode: "open"}).innerHTML =
             "<button>Inside a shadow root</button>" """
    )


def test_the_axe_check_fails_listing_rule_target_and_help(page: Page) -> None:
    _broken(page)
    with pytest.raises(AssertionError) as failed:
        helpers.assert_accessible(page)
    message = str(failed.value)
    assert "html-has-lang [serious]" in message
    assert re.search(r"- label \[critical\]: Form elements must have labels", message)
    assert "    #bare:" in message
    assert "button-name [critical]" in message
    assert "    #titled: Fix all of the following: Only title used" in message
    helpers.assert_accessible(page, disable=("html-has-lang", "label", "button-name", "label-title-only"))


def test_the_label_check_names_controls_labelled_by_placeholder_title_or_nothing(page: Page) -> None:
    _broken(page)
    unlabelled = helpers.unlabelled_inputs(page)
    assert [entry.split('"')[1] for entry in unlabelled] == ["bare", "hinted", "titled"]
    assert unlabelled[0].endswith("(no accessible name)")
    assert unlabelled[1].endswith("(named only by its placeholder)")
    assert unlabelled[2].endswith("(named only by its title)")
    with pytest.raises(AssertionError, match="without a label"):
        helpers.assert_inputs_labelled(page)


def test_tab_through_names_each_stop_from_the_top_into_shadow_roots(page: Page) -> None:
    _broken(page)
    page.get_by_role("link", name="Top").focus()  # a start elsewhere does not matter
    assert helpers.tab_through(page) == ["", "Email", "Phone", "Name", "", "Top", "Inside a shadow root"]


def test_without_chromium_the_browser_tests_are_skipped_saying_where_it_was_sought(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREPULSE_CHROMIUM", "/nonexistent/chromium")
    assert chromium_executable() == (
        None,
        "no Chromium at /nonexistent/chromium (apt-get install chromium, or set STOREPULSE_CHROMIUM)",
    )
