"""The Syncs pages in a browser, in English and Polish: a signed-webhook destination added by keyboard
(its refused URL said beside the field), a sync created paused, its dry run equal to the API's,
started, and its run (by a real worker) counting what a local receiver took, checking the signature
as the destination documents it (connectors/webhook/destination.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import User
from tests.browser import helpers
from tests.browser.dataset import add_owner
from tests.browser.harness import LiveServer
from tests.browser.test_standalone import sign_in
from tests.support.builders import bearer
from tests.support.syncs import Audience, audience

EMAIL = "syncs-owner@example.com"
SECRET = "a-shared-secret-of-the-receiver-42"  # noqa: S105 - a test value
TOLERANCE_SECONDS = 300


@dataclass
class Receiver:
    """A merchant's endpoint: checks each request's signature, keeps what it took, refuses one contact."""

    url: str
    refuse: set[int] = field(default_factory=set)
    adds: list[dict[str, Any]] = field(default_factory=list)
    removes: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0


def signed_by(secret: str, header: str, body: bytes, now: float) -> bool:
    """Check `Storepulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, at most
    five minutes old, as a receiver does."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        sent_at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret.encode(), f"{sent_at}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - sent_at) <= TOLERANCE_SECONDS and hmac.compare_digest(expected, parts.get("v1", ""))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not signed_by(SECRET, self.headers.get("Storepulse-Signature", ""), body, time.time()):
                got.bad_signatures += 1
                self.send_response(401)
                self.end_headers()
                return
            document = json.loads(body)
            got.adds += document["adds"]
            got.removes += document["removes"]
            errors = [
                {"contact_id": a["contact_id"], "error": "unknown in our CRM"}
                for a in document["adds"]
                if a["contact_id"] in got.refuse
            ]
            answer = json.dumps({"errors": errors}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_port}/storepulse"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def shop(settings: Settings) -> Audience:
    """Five subscribed contacts and an unsubscribed one, a segment of everybody, and its owner."""
    made = audience(settings, 5, unsubscribed=1)
    add_owner(settings.database_url, made.account_id, EMAIL)
    return made


def _set_locale(settings: Settings, locale: str) -> None:
    with session_scope(settings.database_url) as session:
        session.scalars(select(User).where(User.email == EMAIL)).one().locale = locale


def _runs(page: Page, live_server: LiveServer, sync_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = page.request.get(f"{live_server.url}/api/v1/syncs/{sync_id}/runs", headers=headers)
    assert answer.ok, answer.text()
    runs: list[dict[str, Any]] = answer.json()["runs"]
    return runs


@pytest.mark.parametrize("locale", ["en", "pl"])
def test_a_sync_to_a_signed_webhook_is_previewed_started_and_its_run_counts_what_the_receiver_got(
    page: Page,
    live_server: LiveServer,
    settings: Settings,
    shop: Audience,
    receiver: Receiver,
    worker: subprocess.Popen[bytes],
    locale: str,
) -> None:
    _set_locale(settings, locale)
    with session_scope(settings.database_url) as session:
        headers = bearer(session, shop.account_id)
    refused = shop.contact_ids["person3@example.com"]
    receiver.refuse.add(refused)
    page.set_extra_http_headers({"Accept-Language": locale})
    sign_in(page, EMAIL)

    # Reached from the navigation; empty, it says how to begin.
    page.locator("nav[aria-label] a[href='/admin/syncs']").click()
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator('[data-empty="syncs"]')).to_be_visible()
    expect(page.locator('[data-empty="destinations"]')).to_be_visible()
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)
    helpers.screenshot(page, f"syncs-empty-{locale}")

    # The destination, by keyboard: a URL that is no URL is refused beside its field.
    page.locator('#destination-form [name="name"]').focus()
    page.keyboard.type("Our CRM")
    page.keyboard.press("Tab")
    page.keyboard.type("not a url")
    page.keyboard.press("Tab")
    page.keyboard.type(SECRET)
    page.keyboard.press("Enter")
    url_error = page.locator('[data-error-for="config.url"]')
    expect(url_error).to_be_visible()
    expect(page.locator('[name="config.url"]')).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[name="config.url"]')).to_be_focused()
    helpers.screenshot(page, f"syncs-refused-{locale}")
    page.keyboard.press("Control+A")
    page.keyboard.type(receiver.url)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("[data-destination]")).to_have_text("Our CRM")
    assert SECRET not in page.content()

    # The sync: made paused, its dry run equal to the API's.
    page.locator("#f-segment_id").select_option(str(shop.segment_id))
    with page.expect_navigation(url="**/admin/syncs/*"):
        page.locator("#sync-form button[type=submit]").click()
    sync_id = int(page.url.rsplit("/", 1)[1])
    preview = page.request.post(f"{live_server.url}/api/v1/syncs/{sync_id}/preview", headers=headers).json()
    shown = page.locator("[data-preview-adds]")
    for action in ("adds", "updates", "removes", "unchanged"):
        expect(shown).to_have_attribute(f"data-preview-{action}", str(preview[action]))
    assert preview["adds"] == 5  # the subscribed ones; the unsubscribed contact is never sent
    expect(page.locator("#preview-counts")).to_contain_text("5")
    assert not _runs(page, live_server, sync_id, headers)  # paused: nothing sent
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)
    helpers.screenshot(page, f"sync-preview-{locale}")

    # Started by keyboard; a real worker runs it.
    start = page.locator("#start-form button[type=submit]")
    start.focus()
    with page.expect_navigation():  # the page shows the started sync
        page.keyboard.press("Enter")
    deadline = time.monotonic() + 60
    runs = _runs(page, live_server, sync_id, headers)
    while not (runs and runs[0]["finished_at"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = _runs(page, live_server, sync_id, headers)
    assert runs, "no run"
    assert runs[0]["finished_at"], runs
    run = runs[0]
    assert receiver.bad_signatures == 0
    taken = {a["contact_id"] for a in receiver.adds}
    assert len(taken) == len(receiver.adds) == 5
    assert run["adds"] == len(taken - {refused}) == 4
    assert run["failed"] == 1
    assert run["removes"] == len(receiver.removes) == 0

    page.reload()
    expect(page.locator("[data-run-adds]")).to_have_attribute("data-run-adds", "4")
    expect(page.locator("[data-run-failed]")).to_have_attribute("data-run-failed", "1")
    expect(page.locator("[data-error-contact]")).to_have_attribute("data-error-contact", str(refused))
    expect(page.locator("[data-contact-error]")).to_have_text("unknown in our CRM")
    helpers.assert_accessible(page)
    helpers.assert_inputs_labelled(page)
    helpers.screenshot(page, f"sync-{locale}")
    stops = helpers.tab_through(page)
    assert any(stop.startswith(("Pause", "Wstrzymaj")) for stop in stops), stops

    page.locator("nav[aria-label] a[href='/admin/syncs']").click()
    expect(page.locator("[data-sync]")).to_have_count(1)
    expect(page.locator("[data-delivered]")).to_have_text("4")
    helpers.assert_accessible(page)
    helpers.screenshot(page, f"syncs-{locale}")
