"""HTTP calls of the destination clients: timeouts, back-off on 429 and 5xx, errors by what to do next.

A 429 or 5xx answer, a timeout or a dropped connection is retried a few times, waiting as the
response's `Retry-After` says or with exponential back-off; when retries run out the call raises
RetriableConnectorError (the contacts are retried on the next run). 401 and 403 raise
CredentialsRejected (the sync stops until its credentials change), other 4xx FatalConnectorError
unless the caller accepts the status (per-member errors come back in the body).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import requests

from integration.errors import CredentialsRejected, FatalConnectorError, RetriableConnectorError

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = (3.05, 60.0)  # connect, read
RETRIES = 4
BACKOFF_SECONDS = 1.0  # first wait; doubles per retry
MAX_WAIT_SECONDS = 60.0


@dataclass
class Http:
    """One vendor's HTTP session with its name (for messages) and the retry policy."""

    vendor: str
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    retries: int = RETRIES
    backoff_seconds: float = BACKOFF_SECONDS
    # Statuses that mean a rejected key.
    credential_statuses: Collection[int] = (401, 403)
    # Mailchimp answers a 403 without a JSON body under very high load: a reason to wait, not a bad key.
    bare_403_retriable: bool = False

    def request(
        self,
        method: str,
        url: str,
        *,
        accept: Collection[int] = (),
        observe: Callable[[requests.Response], None] | None = None,
        headers_per_attempt: Callable[[], dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return a 2xx response or one whose status is in `accept`.

        `observe` sees every response before it is judged (rate-limit headers are read there);
        `headers_per_attempt` makes headers anew for each attempt (a signature with its time).
        """
        fixed = kwargs.pop("headers", None) or {}
        for attempt in range(self.retries + 1):
            headers = {**fixed, **(headers_per_attempt() if headers_per_attempt else {})}
            try:
                response = self.session.request(
                    method, url, timeout=TIMEOUT_SECONDS, headers=headers or None, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                if attempt == self.retries:
                    raise RetriableConnectorError(f"{self.vendor} unreachable: {exc}") from exc
                self.sleep(self._backoff(attempt))
                continue
            if observe is not None:
                observe(response)
            status = response.status_code
            if status < 300 or status in accept:
                return response
            bare = (
                status == 403
                and self.bare_403_retriable
                and "json" not in response.headers.get("Content-Type", "")
            )
            if status == 429 or status >= 500 or bare:
                wait = retry_after(response, self._backoff(attempt))
                if attempt == self.retries:
                    raise RetriableConnectorError(f"{self.vendor} answered {status}", retry_after=wait)
                logger.info("%s answered %s; retrying in %.1fs", self.vendor, status, wait)
                self.sleep(wait)
                continue
            if status in self.credential_statuses:
                raise CredentialsRejected(
                    f"{self.vendor} refused the credentials ({status}): {brief(response)}"
                )
            raise FatalConnectorError(f"{self.vendor} answered {status}: {brief(response)}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return float(min(MAX_WAIT_SECONDS, self.backoff_seconds * 2**attempt))


def retry_after(response: requests.Response, default: float) -> float:
    """The wait a response asks for in `Retry-After` (seconds), else `default`; capped."""
    try:
        return min(MAX_WAIT_SECONDS, max(0.0, float(response.headers["Retry-After"])))
    except (KeyError, ValueError):
        return default


def json_object(response: requests.Response, vendor: str) -> dict[str, Any]:
    """The response's JSON object; FatalConnectorError when it is not one."""
    try:
        data = response.json()
    except ValueError as exc:
        raise FatalConnectorError(f"{vendor} answered {response.status_code} without JSON") from exc
    if not isinstance(data, dict):
        raise FatalConnectorError(f"{vendor} answered JSON that is not an object")
    return data


def brief(response: requests.Response) -> str:
    """A short description of an error response (never the request, which holds personal data)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        if "errors" in data and isinstance(data["errors"], list):  # JSON:API
            return "; ".join(str(e.get("detail") or e.get("title")) for e in data["errors"][:3])[:300]
        return str(data.get("detail") or data.get("title") or data.get("message") or data)[:300]
    return str(data)[:200]
