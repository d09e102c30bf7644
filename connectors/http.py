"""HTTP calls of the destination clients: timeouts, back-off on 429 and 5xx, errors by what to do next.

A 429 or 5xx answer, a timeout or a dropped connection is retried a few times, waiting as the
response's `Retry-After` says or with exponential back-off; when retries run out the call raises
RetriableConnectorError (the contacts are retried on the next run). 401 and 403 raise
CredentialsRejected (the sync stops until its credentials change), other 4xx FatalConnectorError
unless the caller accepts the status (per-member errors come back in the body). Redirects are not
followed: a 3xx is a FatalConnectorError like any other unexpected answer.

URLs a merchant chooses (webhook destinations) go through `PinnedAddressAdapter`: only https to
public addresses unless the installation allows private ones (`connectors.addresses.check_url`),
checked at every request, and the connection made directly to the very address that was checked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from connectors.addresses import check_url
from integration.errors import (
    AddressRefused,
    CredentialsRejected,
    FatalConnectorError,
    RetriableConnectorError,
)

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
    # Entered around every attempt: a vendor's limits (a connection slot, a rate) shared per API key.
    gate: Callable[[], AbstractContextManager[object]] | None = None

    def request(
        self,
        method: str,
        url: str,
        *,
        accept: Collection[int] = (),
        observe: Callable[[requests.Response], None] | None = None,
        headers_per_attempt: Callable[[], dict[str, str]] | None = None,
        gate: Callable[[], AbstractContextManager[object]] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return a 2xx response or one whose status is in `accept`.

        `observe` sees every response before it is judged (rate-limit headers are read there);
        `headers_per_attempt` makes headers anew for each attempt (a signature with its time);
        `gate` (else the session's) is entered around each attempt, retries included.
        """
        fixed = kwargs.pop("headers", None) or {}
        gate = gate or self.gate
        for attempt in range(self.retries + 1):
            headers = {**fixed, **(headers_per_attempt() if headers_per_attempt else {})}
            try:
                with gate() if gate is not None else nullcontext():
                    response = self.session.request(
                        method,
                        url,
                        timeout=TIMEOUT_SECONDS,
                        headers=headers or None,
                        # A redirect could lead anywhere, also where the first URL was not allowed to.
                        allow_redirects=False,
                        **kwargs,
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
                    f"{self.vendor} refused the credentials ({status}): {brief(response)}; "
                    "reconnect the destination with new credentials"
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


class PinnedAddressAdapter(HTTPAdapter):
    """Send only where `check_url` allows, connecting to an address it checked.

    Every request resolves its host once and checks each address; the connection then goes to the
    first checked address (the next one if that cannot connect) while the Host header, TLS SNI and
    certificate verification keep the host's name. A resolver answering otherwise between the check
    and the connection (DNS rebinding) so changes nothing. No proxy is used, whoever names one: a
    proxy would resolve the name itself and connect from where it stands. A refused address raises
    AddressRefused; a name that does not resolve is a ConnectionError (retried: resolvers have bad
    moments).
    """

    def __init__(self, *, allow_private: bool = False) -> None:
        super().__init__()
        self.allow_private = allow_private
        self._pinned = threading.local()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        del proxies  # always a direct connection to a checked address
        url = request.url or ""
        try:
            addresses = check_url(url, allow_private=self.allow_private)
        except AddressRefused as exc:
            if exc.reason == "url_unresolvable":
                raise requests.ConnectionError(exc.detail, request=request) from exc
            raise
        # The name the server is asked for, whatever address carries the request.
        request.headers["Host"] = urlsplit(url).netloc.rpartition("@")[2]
        failure: requests.ConnectionError | None = None
        for address in addresses:
            self._pinned.address = address
            try:
                return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert)
            except requests.ConnectionError as exc:
                if not _not_connected(exc):
                    raise  # something was sent: trying another address could repeat it
                failure = exc
            finally:
                self._pinned.address = None
        assert failure is not None  # noqa: S101 - check_url returns at least one address
        raise failure

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = getattr(self._pinned, "address", None)
        if address is not None:
            if host_params["scheme"] == "https":
                # SNI and the certificate's name check use the name, not the address connected to.
                pool_kwargs["server_hostname"] = host_params["host"]
            host_params["host"] = address
        return host_params, pool_kwargs


def _not_connected(exc: requests.ConnectionError) -> bool:
    """Whether a request failed before a connection was made (nothing of it was sent)."""
    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
