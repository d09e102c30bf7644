"""What the browser fixtures hand to tests: the live server, an embedded page, and where Chromium is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from integration.settings import Settings
from tests.support.session_tokens import embedded_query, session_token
from tests.support.shopify import SHOP

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

CHROMIUM_VARIABLE = "STOREPULSE_CHROMIUM"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
# The test app's secret, as long as Shopify's (PyJWT warns of HMAC keys under 32 bytes).
APP_SECRET = "shpss_0123456789abcdef0123456789abcdef"


def chromium_executable() -> tuple[str | None, str]:
    """Return the Chromium to drive, or None and why the browser tests cannot run."""
    path = os.environ.get(CHROMIUM_VARIABLE) or DEBIAN_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None, f"no Chromium at {path} (apt-get install chromium, or set {CHROMIUM_VARIABLE})"
    return path, ""


@dataclass(frozen=True)
class LiveServer:
    """The running test server: its base URL (no trailing slash) and the settings it serves with."""

    url: str
    settings: Settings

    @property
    def app_secret(self) -> str:
        assert self.settings.shopify_api_secret
        return self.settings.shopify_api_secret

    @property
    def api_key(self) -> str:
        assert self.settings.shopify_api_key
        return self.settings.shopify_api_key


@dataclass
class EmbeddedPage:
    """A page opened as the Shopify admin opens the app: with the embedded query (id_token, hmac...)
    and the App Bridge stand-in answering as `window.shopify`."""

    page: Page
    server: LiveServer
    shop: str = SHOP

    def url(self, path: str, *, locale: str = "en", token: str | None = None) -> str:
        """The address the admin loads `path` at, for this shop and locale (`token`: its id_token)."""
        query = embedded_query(
            self.server.app_secret, api_key=self.server.api_key, shop=self.shop, locale=locale, token=token
        )
        return f"{self.server.url}{path}{'&' if '?' in path else '?'}{urlencode(query)}"

    def goto(self, path: str, *, locale: str = "en", token: str | None = None) -> Response | None:
        """Load `path` as the admin would; return the response."""
        return self.page.goto(self.url(path, locale=locale, token=token))

    def token(self) -> str:
        """A session token, as `shopify.idToken()` hands it to the page's scripts."""
        value: str = self.page.evaluate("() => window.shopify.idToken()")
        return value

    def mint(self, **claims: Any) -> str:
        """Mint a session token of this shop outside the page (`claims` replace or add claims,
        `now` and `nbf_offset` move its times)."""
        return session_token(self.server.app_secret, api_key=self.server.api_key, shop=self.shop, **claims)
