"""The Shopify Admin API client: OAuth token calls and GraphQL, with timeouts and cost-based pacing.

GraphQL calls are paced by the leaky bucket Shopify reports in `extensions.cost.throttleStatus`:
before a call that would not fit in what is currently available, the client waits for the bucket
to refill at its restore rate. A `THROTTLED` error or HTTP 429 (honouring `Retry-After`) waits and
retries a few times, then raises RetriableConnectorError so the job retries later. Other 4xx and
GraphQL errors (a document Shopify does not validate, a missing access scope) are fatal: the same
call would be refused again. 5xx and timeouts are retriable.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import shopify

from integration.errors import CredentialsRejected, FatalConnectorError, RetriableConnectorError
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com$", re.IGNORECASE)


def shop_domain(raw: str | None) -> str | None:
    """The shop's domain in the form stored and compared (lower case), or None if it is not one."""
    return raw.lower() if raw is not None and valid_shop(raw) else None


TIMEOUT_SECONDS = (3.05, 30.0)  # connect, read
MAX_RETRIES = 4
MAX_WAIT_SECONDS = 30.0
DEFAULT_COST = 50.0  # assumed cost of a query whose cost is not known yet
REFRESH_MARGIN = timedelta(minutes=5)
# userError codes of bulk operations that a later attempt can get past (Shopify's own wording).
RETRY_LATER_CODES = frozenset({"LIMIT_REACHED", "OPERATION_IN_PROGRESS"})


def valid_shop(shop: str | None) -> bool:
    """Whether `shop` is a bare `{name}.myshopify.com` domain (anchored: no prefix or suffix tricks)."""
    return bool(shop) and SHOP_DOMAIN.fullmatch(shop or "") is not None


@dataclass(frozen=True)
class Tokens:
    """An expiring offline access token with the refresh token that renews it."""

    access_token: str
    scope: str
    expires_at: str | None = None  # ISO times: the mapping is stored as encrypted JSON
    refresh_token: str | None = None
    refresh_expires_at: str | None = None

    @classmethod
    def from_response(cls, data: dict[str, Any], now: datetime | None = None) -> Tokens:
        now = now or utcnow()
        if not data.get("access_token"):
            raise FatalConnectorError("Shopify's token response has no access_token")

        def after(seconds: Any) -> str | None:
            return (now + timedelta(seconds=int(seconds))).isoformat() if seconds else None

        return cls(
            access_token=str(data["access_token"]),
            scope=str(data.get("scope", "")),
            expires_at=after(data.get("expires_in")),
            refresh_token=data.get("refresh_token"),
            refresh_expires_at=after(data.get("refresh_token_expires_in")),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def expiring(self, now: datetime | None = None) -> bool:
        """Whether the access token expires within REFRESH_MARGIN (and can be refreshed)."""
        if self.expires_at is None or self.refresh_token is None:
            return False
        return datetime.fromisoformat(self.expires_at) - REFRESH_MARGIN <= (now or utcnow())

    def missing_scopes(self, wanted: tuple[str, ...]) -> list[str]:
        granted = {s.strip() for s in self.scope.split(",")}
        # A write scope implies its read scope.
        granted |= {"read_" + s[len("write_") :] for s in granted if s.startswith("write_")}
        return [s for s in wanted if s not in granted]


# Token exchange (RFC 8693) as Shopify names its parts: names of token kinds, not secrets.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105


class SessionTokenRefused(FatalConnectorError):
    """Shopify refused to exchange a session token it did not take as current (`invalid_subject_token`):
    a fresh token from App Bridge may pass where this one did not."""

    reason = "invalid_subject_token"


class OAuth:
    """The app's side of Shopify's token grants (authorization code, token exchange, refresh) for one app."""

    def __init__(self, api_key: str, secret: str, http: requests.Session | None = None) -> None:
        self.api_key = api_key
        self.secret = secret
        self.http = http or requests.Session()
        # ShopifyAPI keeps credentials on the class: a subclass keeps them to this app.
        self._session_class = type("AppSession", (shopify.Session,), {"api_key": api_key, "secret": secret})

    def authorize_url(
        self, shop: str, version: str, scopes: tuple[str, ...], redirect_uri: str, state: str
    ) -> str:
        """The grant screen to send the merchant to."""
        session = self._session_class(shop, version)
        return str(session.create_permission_url(list(scopes), redirect_uri, state))

    def exchange_code(self, shop: str, code: str) -> Tokens:
        """Exchange an authorization code for an expiring offline token."""
        return self._token_call(
            shop, {"client_id": self.api_key, "client_secret": self.secret, "code": code, "expiring": "1"}
        )

    def exchange_session_token(self, shop: str, id_token: str) -> Tokens:
        """Exchange an embedded page's session (ID) token for an expiring offline token.

        Raises SessionTokenRefused when Shopify does not accept the session token itself.
        """
        return self._token_call(
            shop,
            {
                "client_id": self.api_key,
                "client_secret": self.secret,
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN_TYPE,
                "requested_token_type": OFFLINE_TOKEN_TYPE,
                "expiring": "1",
            },
        )

    def refresh(self, shop: str, refresh_token: str) -> Tokens:
        """Renew an expiring offline token; both tokens rotate."""
        return self._token_call(
            shop,
            {
                "client_id": self.api_key,
                "client_secret": self.secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )

    def _token_call(self, shop: str, body: dict[str, str]) -> Tokens:
        if not valid_shop(shop):
            raise FatalConnectorError(f"not a shop domain: {shop!r}")
        response = _send(self.http, "POST", f"https://{shop}/admin/oauth/access_token", json=body)
        if response.status_code in (400, 401, 403):
            message = f"Shopify refused the token request: {_error_text(response)}"
            if _error_code(response) == SessionTokenRefused.reason:
                raise SessionTokenRefused(message)
            raise FatalConnectorError(message)
        _raise_for_status(response)
        return Tokens.from_response(_json(response))


class ShopifyClient:
    """GraphQL Admin API calls for one shop, paced by the cost bucket Shopify reports."""

    def __init__(
        self,
        shop: str,
        access_token: str,
        api_version: str,
        *,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not valid_shop(shop):
            raise FatalConnectorError(f"not a shop domain: {shop!r}")
        version = shopify.ApiVersion.coerce_to_version(api_version)
        self.url = f"{version.api_path(f'https://{shop}')}/graphql.json"
        self.http = http or requests.Session()
        self.http.headers.update({"X-Shopify-Access-Token": access_token, "Accept": "application/json"})
        self.sleep = sleep
        self.available: float | None = None
        self.maximum: float | None = None
        self.restore_rate: float | None = None
        self.last_cost: float = DEFAULT_COST

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation; return its `data`. Raises ConnectorError subclasses."""
        for attempt in range(MAX_RETRIES + 1):
            self._wait_for(self.last_cost)
            response = _send(self.http, "POST", self.url, json={"query": query, "variables": variables or {}})
            if response.status_code == 429:
                wait = _retry_after(response)
                if attempt == MAX_RETRIES:
                    raise RetriableConnectorError("Shopify rate limit (429)", retry_after=wait)
                self.sleep(wait)
                continue
            if response.status_code in (401, 403):
                raise CredentialsRejected(
                    f"Shopify refused the access token ({response.status_code}); "
                    "reinstall the app from Shopify to reconnect the store"
                )
            _raise_for_status(response)
            body = _json(response)
            self._note_cost(body)
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                wait = self._refill_time(self.last_cost)
                if attempt == MAX_RETRIES:
                    raise RetriableConnectorError("Shopify throttled the query", retry_after=wait)
                self.sleep(wait)
                continue
            if errors:
                raise FatalConnectorError(
                    "Shopify GraphQL error: " + "; ".join(str(e.get("message")) for e in errors)
                )
            data: dict[str, Any] = body.get("data") or {}
            return data
        raise RetriableConnectorError("Shopify kept throttling")  # pragma: no cover - loop always returns

    def mutation(self, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        """Run a mutation; raise with its userErrors, else return its payload.

        userErrors that only say "later" (LIMIT_REACHED, OPERATION_IN_PROGRESS) are retriable;
        any other is fatal: the same input would be refused again.
        """
        payload: dict[str, Any] = self.graphql(query, variables).get(field) or {}
        errors = payload.get("userErrors") or []
        if errors:
            message = f"{field}: " + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
            if all(e.get("code") in RETRY_LATER_CODES for e in errors):
                raise RetriableConnectorError(message)
            raise FatalConnectorError(message)
        return payload

    def paginate(
        self, query: str, variables: dict[str, Any], path: tuple[str, ...]
    ) -> Iterator[dict[str, Any]]:
        """Yield the nodes of a connection, following `pageInfo.endCursor`."""
        cursor = None
        while True:
            data: Any = self.graphql(query, {**variables, "after": cursor})
            try:
                for key in path:
                    data = data[key]
                nodes = [edge["node"] for edge in data["edges"]]
                more, cursor = bool(data["pageInfo"]["hasNextPage"]), data["pageInfo"]["endCursor"]
            except (KeyError, TypeError) as exc:
                raise FatalConnectorError(f"unexpected shape of Shopify's {'.'.join(path)}: {exc!r}") from exc
            yield from nodes
            if not more:
                return

    def download(self, url: str) -> Iterator[bytes]:
        """Stream the lines of a bulk operation's result file (a signed URL: no access token sent)."""
        response = _send(requests.Session(), "GET", url, stream=True)
        _raise_for_status(response)
        with response:
            yield from (line for line in response.iter_lines() if line)

    def _note_cost(self, body: dict[str, Any]) -> None:
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in status:
            self.available = float(status["currentlyAvailable"])
            self.maximum = float(status.get("maximumAvailable") or self.available)
            self.restore_rate = float(status.get("restoreRate") or 0) or None
        requested = cost.get("requestedQueryCost")
        if requested is not None:
            self.last_cost = float(requested)

    def _refill_time(self, cost: float) -> float:
        if self.available is None or not self.restore_rate:
            return 1.0
        return min(MAX_WAIT_SECONDS, max(0.0, (cost - self.available) / self.restore_rate))

    def _wait_for(self, cost: float) -> None:
        """Sleep until the bucket holds `cost` points, as far as the last response told."""
        if self.available is None or self.available >= cost:
            return
        wait = self._refill_time(cost)
        logger.debug("waiting %.2fs for Shopify's cost bucket", wait)
        self.sleep(wait)
        self.available = min(self.maximum or cost, self.available + wait * (self.restore_rate or 0))


def _send(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        return http.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.Timeout as exc:
        raise RetriableConnectorError(f"Shopify timed out: {exc}") from exc
    except requests.ConnectionError as exc:
        raise RetriableConnectorError(f"cannot reach Shopify: {exc}") from exc


def _raise_for_status(response: requests.Response) -> None:
    if response.status_code >= 500:
        raise RetriableConnectorError(f"Shopify answered {response.status_code}")
    if response.status_code >= 400:
        raise FatalConnectorError(f"Shopify answered {response.status_code}: {_error_text(response)}")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise RetriableConnectorError(f"Shopify answered with something other than JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FatalConnectorError("Shopify answered with JSON that is not an object")
    return data


def _retry_after(response: requests.Response) -> float:
    try:
        return min(MAX_WAIT_SECONDS, max(0.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _error_code(response: requests.Response) -> str | None:
    """The OAuth `error` code of a refusal, if its body is JSON that has one."""
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data["error"]) if isinstance(data, dict) and data.get("error") else None


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("error_description") or data.get("error") or data.get("errors") or "")[:200]
    return str(data)[:200]
