"""WooCommerce's REST API v3 for one shop: Basic authentication with the shop's REST keys, pages.

The shop's address is the merchant's choice, so requests go only where
`connectors.addresses.check_url` allows (public https, unless the installation allows private
addresses), pinned to the checked address, redirects not followed; over plain http the keys would
travel readable, so http is refused unless private addresses are allowed (a shop on the operator's
own network). Paging follows the documented `page` / `per_page` (at most 100) with the total in
`X-WP-TotalPages`. Errors come from `connectors.http`: 429 and 5xx are retried and then raise
RetriableConnectorError; 401 and 403 raise CredentialsRejected (the keys were revoked or lack
`read_write`); other 4xx FatalConnectorError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from connectors.http import Http, PinnedAddressAdapter
from connectors.paging import Page
from integration.errors import FatalConnectorError

API = "/wp-json/wc/v3/"
PER_PAGE = 100  # WooCommerce's maximum
MAX_URL_LENGTH = 300
KEY = re.compile(r"ck_[A-Za-z0-9]{20,80}")
SECRET = re.compile(r"cs_[A-Za-z0-9]{20,80}")


def shop_url(value: str | None, *, allow_http: bool = False) -> str | None:
    """A shop's address as storepulse keeps it (`https://host[:port][/path]`, no trailing slash),
    or None when it is not one. A bare host is read as https; query and fragment are refused."""
    text = (value or "").strip()
    if not text or len(text) > MAX_URL_LENGTH or any(c.isspace() for c in text):
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname or parts.query or parts.fragment:
        return None
    if parts.username or parts.password or "." not in parts.hostname and parts.hostname != "localhost":
        return None
    host = parts.hostname.lower() + (f":{port}" if port else "")
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


class WooClient:
    """REST calls to one shop with its consumer key and secret."""

    def __init__(
        self,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        http: Http | None = None,
        allow_private: bool = False,
        ca_bundle: str | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        http = http or Http("WooCommerce")
        http.session.trust_env = False  # no proxy and no .netrc: the keys go to the shop only
        if ca_bundle:
            http.session.verify = ca_bundle
        adapter = PinnedAddressAdapter(allow_private=allow_private)
        for prefix in ("https://", "http://"):
            http.session.mount(prefix, adapter)
        if sleep is not None:
            http.sleep = sleep
        self.http = http
        self.auth = (consumer_key, consumer_secret)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method, self.url + API + path, auth=self.auth, headers={"Accept": "application/json"}, **kwargs
        )
        try:
            return response, response.json()
        except ValueError as exc:
            raise FatalConnectorError(
                f"WooCommerce answered {response.status_code} without JSON at {path}: is this a "
                "WordPress site with WooCommerce and pretty permalinks?"
            ) from exc

    def site(self) -> dict[str, Any]:
        """The WordPress REST index (`/wp-json/`): the site's `name`, `timezone_string`, `gmt_offset`."""
        response = self.http.request("GET", self.url + "/wp-json/", headers={"Accept": "application/json"})
        try:
            data = response.json()
        except ValueError as exc:
            raise FatalConnectorError(
                f"{self.url} answered without JSON at /wp-json/: is it a WordPress site?"
            ) from exc
        if not isinstance(data, dict):
            raise FatalConnectorError(f"{self.url}/wp-json/ is not the WordPress REST index")
        return data

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a resource; its JSON."""
        return self._call("GET", path, params=params or {})[1]

    def send(self, method: str, path: str, document: dict[str, Any]) -> dict[str, Any]:
        """POST (create) or PUT (change) a resource; the JSON object as it is afterwards."""
        data = self._call(method, path, json=document)[1]
        if not isinstance(data, dict):
            raise FatalConnectorError(f"WooCommerce answered {path} with JSON that is not an object")
        return data

    def page(self, path: str, number: int, params: dict[str, Any] | None = None) -> Page:
        """One page (1-based) of a collection, `PER_PAGE` items a page."""
        response, data = self._call(
            "GET", path, params={**(params or {}), "page": number, "per_page": PER_PAGE}
        )
        if not isinstance(data, list):
            raise FatalConnectorError(f"WooCommerce answered {path} with JSON that is not a list")
        try:
            total = int(response.headers.get("X-WP-TotalPages", "0"))
        except ValueError:
            total = 0
        # A shop whose proxy drops the header: the pages go on while they come full.
        if total < number and data:
            total = number + (1 if len(data) >= PER_PAGE else 0)
        return Page(number=number, items=[item for item in data if isinstance(item, dict)], total_pages=total)

    def pages(self, path: str, params: dict[str, Any] | None = None, first: int = 1) -> Iterator[Page]:
        """Every page from `first` on, while the shop says there are more."""
        number = first
        while True:
            page = self.page(path, number, params)
            yield page
            if number >= page.total_pages or not page.items:
                return
            number += 1
