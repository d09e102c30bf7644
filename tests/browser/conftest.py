"""Browser tests: Debian's Chromium driven by Playwright against a real server, store, Redis and worker.

One server (werkzeug, in a thread of this process) and one browser serve the whole session; each
test gets an emptied store and Redis, and a page of its own in a fresh browser context. The page
reaches nothing but the test server: any other request is aborted and fails the test.

Chromium is `/usr/bin/chromium`, or the executable STOREPULSE_CHROMIUM names; where there is none,
every test here is skipped saying so and the rest of the suite runs. Screenshots of the run go to
tests/browser/screenshots/, emptied as the first browser test starts.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server

from integration.settings import Settings, configure
from integration.store.db import get_engine
from integration.store.models import Base
from integration.store.redis import connection, forget_connections
from integration.web.app import create_app
from tests.browser import helpers, stub
from tests.browser.harness import APP_SECRET, EmbeddedPage, LiveServer, chromium_executable
from tests.support.shopify import API_KEY
from tests.support.workers import start_worker, stop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

HERE = Path(__file__).parent
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Playwright's waits, in milliseconds: generous for a busy 2-core machine; each ends once its condition holds.
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests here `browser`; skip them, saying why, where no Chromium can run."""
    _, reason = chromium_executable()
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


class _QuietHandler(WSGIRequestHandler):
    """No access line per request: the pages' queries carry session tokens, which logs must not hold,
    and a failing test's output is clearer without them (errors are still logged by the app)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture(scope="session")
def _serving(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve the app (with the test-only routes) over HTTP on a loopback port for the session."""

    def not_yet(environ: Any, start_response: Any) -> list[bytes]:  # replaced before any request
        start_response("503 Service Unavailable", [])
        return []

    server = make_server("127.0.0.1", 0, not_yet, threaded=True, request_handler=_QuietHandler)
    url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(
        instance_path=tmp_path_factory.mktemp("live") / "instance",
        database_url=postgres_url,
        redis_url=redis_url,
        secret_key="browser-test-secret-key-0123456789",
        encryption_keys=(Fernet.generate_key().decode(),),
        shopify_api_key=API_KEY,
        shopify_api_secret=APP_SECRET,
        app_url=url,
        port=server.server_port,
        api_rate_limit_per_second=0,
        # The signed-webhook receivers of the tests listen on loopback.
        webhook_allow_private=True,
        shopify_app_bridge_src=url + stub.APP_BRIDGE_PATH,
        shopify_polaris_src=url + stub.POLARIS_PATH,
    )
    app = create_app({f.name: getattr(settings, f.name) for f in fields(settings)})
    app.register_blueprint(stub.blueprint)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(url, settings)
    server.shutdown()
    server.server_close()
    thread.join()
    forget_connections()


@pytest.fixture
def live_server(_serving: LiveServer) -> Iterator[LiveServer]:
    """The test server, with its store and Redis emptied for this test."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(_serving.settings.database_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    connection(_serving.settings).flushdb()
    configure(_serving.settings)
    yield _serving
    configure(None)


@pytest.fixture
def settings(live_server: LiveServer) -> Settings:
    """The live server's settings: fixtures built on `settings` (`shop`, `run_worker`, `api_shop`)
    work on the store and Redis the browser sees."""
    return live_server.settings


@pytest.fixture
def shopify_settings(settings: Settings) -> Settings:
    """The live server's settings, which configure the Shopify app already (`shop` connects its store)."""
    return settings


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `storepulse worker` process draining the queues while the test runs (log: tmp_path/worker.log)."""
    process = start_worker(settings, log=tmp_path / "worker.log")
    yield process
    stop(process)


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    """Start the run's screenshots afresh: the folder holds this run's pages only."""
    for old in helpers.SCREENSHOTS.glob("*.png"):
        old.unlink()


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Playwright]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session."""
    executable, reason = chromium_executable()
    if executable is None:
        pytest.skip(reason)
    launched = _playwright.chromium.launch(
        executable_path=executable,
        # Also below the page's requests (which the route guard sees): no name resolves but loopback.
        args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
    )
    yield launched
    launched.close()


@pytest.fixture
def blocked_requests() -> list[str]:
    """URLs the test's page tried to reach beyond the test server (each one fails the test;
    a test that provokes one on purpose clears the list)."""
    return []


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, blocked_requests: list[str]) -> Iterator[Page]:
    """A page of a fresh browser context on the test server (relative URLs go to it).

    The test fails if the page tried to reach any other host, or a script on it threw.
    """
    from playwright.sync_api import Route

    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        timezone_id="UTC",
        viewport={"width": 1280, "height": 800},
        reduced_motion="reduce",
    )
    context.set_default_timeout(TIMEOUT_MS)

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked_requests.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(f"{opened.url}: {error}"))
    yield opened
    context.close()
    problems = [f"the page tried to reach {url}" for url in blocked_requests]
    problems += [f"a script on the page threw: {error}" for error in errors]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def embedded_page(page: Page, live_server: LiveServer) -> EmbeddedPage:
    """The test's page, opened the way the Shopify admin opens the app (see `EmbeddedPage`)."""
    return EmbeddedPage(page, live_server)


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """`screenshot(page, name)`: a full-page PNG in tests/browser/screenshots/ (kept by CI)."""
    return helpers.screenshot


@pytest.fixture
def assert_accessible() -> Callable[..., None]:
    """`assert_accessible(page, disable=())`: fail on serious or critical axe-core violations."""
    return helpers.assert_accessible


@pytest.fixture
def tab_through() -> Callable[..., list[str]]:
    """`tab_through(page)`: the accessible names met pressing Tab from the top of the page."""
    return helpers.tab_through


@pytest.fixture
def assert_inputs_labelled() -> Callable[[Page], None]:
    """`assert_inputs_labelled(page)`: fail naming each visible form control without a label."""
    return helpers.assert_inputs_labelled
