"""Billbee's API v1 for one Billbee account: the operator's developer key, the user's login and API
password, and Billbee's limit kept by every worker together.

Every request carries `X-Billbee-Api-Key` and Basic authentication with the user's login and API
password. Billbee answers 429 beyond about 2 requests a second per endpoint for a key and user, so
calls are paced per (key, user, endpoint) through `connectors.limits.Pace`, in Redis: all workers
on all machines share it. A 429 holds every caller of that endpoint back for its `Retry-After`
(the call itself waits and is retried by `connectors.http`). 401 and 403 raise CredentialsRejected;
an answer whose `ErrorCode` is not 0 raises FatalConnectorError with Billbee's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import Redis

from connectors.http import Http, json_object
from connectors.limits import Pace, key_digest
from connectors.paging import Page
from integration.errors import FatalConnectorError

PAGE_SIZE = 250  # Billbee's maximum
# Billbee's documented limit: 2 requests a second per endpoint for a key and user.
WINDOWS = ((1.0, 2),)
# Calls reach Billbee a little after they leave, each after its own delay: each second is counted
# this much longer (at most 2 calls in 1.1 s, 0.91 of the limit). At 0.05 s, two calls two slots
# apart once reached a stand-in on loopback less than a second apart on a busy machine (the first
# delayed 50 ms more than the third), and a 429 holds every caller back for a whole second.
MARGIN_SECONDS = 0.1


class BillbeeClient:
    """Calls to Billbee for one user of the operator's developer key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        login: str,
        password: str,
        *,
        redis: Redis | None,
        http: Http | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.auth = (login, password)
        self.http = http or Http("Billbee")
        if sleep is not None:
            self.http.sleep = sleep
        self.redis = redis
        self.digest = key_digest(f"{api_key}\n{login.casefold()}")

    def pace(self, endpoint: str) -> Pace:
        """The limit of one endpoint (`orders`, `customers`) for this key and user."""
        return Pace.shared(
            f"billbee:{self.digest}:{endpoint}", WINDOWS, self.redis, margin_seconds=MARGIN_SECONDS
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `path` (under /api/v1); Billbee's answer, checked."""
        pace = self.pace(path.split("/", 1)[0])
        response = self.http.request(
            "GET",
            f"{self.base_url}/{path}",
            params=params or {},
            auth=self.auth,
            headers={"X-Billbee-Api-Key": self.api_key, "Accept": "application/json"},
            gate=pace.gate,
            observe=pace.observe,
        )
        data = json_object(response, "Billbee")
        if data.get("ErrorCode") not in (None, 0):
            message = str(data.get("ErrorMessage") or data.get("ErrorDescription") or data.get("ErrorCode"))
            raise FatalConnectorError(f"Billbee refused {path}: {message[:300]}")
        return data

    def page(self, path: str, number: int, params: dict[str, Any] | None = None) -> Page:
        """One page (1-based) of a collection, PAGE_SIZE items a page."""
        data = self.get(path, {**(params or {}), "page": number, "pageSize": PAGE_SIZE})
        items = data.get("Data")
        if not isinstance(items, list):
            raise FatalConnectorError(f"Billbee answered {path} without a Data list")
        paging = data.get("Paging")
        if not isinstance(paging, dict):
            paging = {}
        try:
            total = int(paging.get("TotalPages") or 0)
        except (TypeError, ValueError):
            total = 0
        if total < number and items:  # no paging given: go on while pages come full
            total = number + (1 if len(items) >= PAGE_SIZE else 0)
        return Page(number=number, items=[i for i in items if isinstance(i, dict)], total_pages=total)
