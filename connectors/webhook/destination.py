"""A signed webhook: batches of adds and removes POSTed as JSON to the merchant's URL.

Each request carries `Storepulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw
body>" under the shared secret>` (signed anew for each attempt) and an `Idempotency-Key` that the
retries of one batch repeat. 429 and 5xx are retried with back-off (honouring
`Retry-After`); 401, 403 and 410 stop the sync (the receiver refuses us or is gone). A 2xx answer may
list per-contact failures as `{"errors": [{"contact_id": 1, "error": "…"}]}`; the others count as
delivered.

The URL is the merchant's choice, so requests go only where `connectors.addresses.check_url` allows
(public https addresses, unless the installation allows private ones), checked at every request
and pinned to the checked address; redirects are not followed. A refused address stops the sync.
The session takes nothing from the environment: no proxy (`HTTPS_PROXY` and the like would hand
the connection to a proxy that resolves the name itself) and no `.netrc` credentials; the CA
bundle, if the installation names one, is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import Schema, fields, validate

from connectors.addresses import check_url
from connectors.http import Http, PinnedAddressAdapter
from connectors.opening import Opening
from integration.contract import REMOVE, Change, Delivery
from integration.settings import Settings

BATCH_SIZE = 500
SIGNATURE_HEADER = "Storepulse-Signature"
# A person waits for the answer to a save: a resolver slower than this answers `url_unresolvable`.
SAVE_RESOLVE_TIMEOUT_SECONDS = 3.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_seconds: int = 300) -> bool:
    """Check a signature header as a receiver would (constant time, bounded age)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


class SignedWebhook:
    """Deliver a sync's changes to a merchant's endpoint."""

    name = "webhook"
    batch_size = BATCH_SIZE
    concurrency = 1

    def __init__(
        self,
        url: str,
        secret: str,
        sync_id: int,
        *,
        http: Http | None = None,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
        ca_bundle: str | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.sync_id = sync_id
        self.http = http or Http("the webhook endpoint")
        self.http.credential_statuses = (401, 403, 410)
        self.http.session.trust_env = False
        if ca_bundle:
            self.http.session.verify = ca_bundle
        adapter = PinnedAddressAdapter(allow_private=allow_private)
        for prefix in ("https://", "http://"):
            self.http.session.mount(prefix, adapter)
        self.clock = clock

    def deliver(self, changes: Sequence[Change]) -> Delivery:
        document = {
            "sync_id": self.sync_id,
            "adds": [_member(c) for c in changes if c.action != REMOVE],
            "removes": [
                {"contact_id": c.contact_id, "email": c.email, "reason": c.reason}
                for c in changes
                if c.action == REMOVE
            ],
        }
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        # One key per batch sent: its retries repeat it, a later run's identical batch does not.
        key = secrets.token_hex(20)
        response = self.http.request(
            "POST",
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
            # Signed anew for each attempt, so a late retry is not refused as stale.
            headers_per_attempt=lambda: {SIGNATURE_HEADER: signature(self.secret, int(self.clock()), body)},
        )
        failed = _reported_errors(response)
        delivery = Delivery()
        for change in changes:
            if change.contact_id in failed:
                delivery.failed[change.contact_id] = failed[change.contact_id]
            else:
                delivery.done[change.contact_id] = None
        return delivery


def _member(change: Change) -> dict[str, Any]:
    return {
        "contact_id": change.contact_id,
        "action": change.action,
        "email": change.email,
        "previous_email": change.previous_email,
        "first_name": change.first_name,
        "last_name": change.last_name,
    }


def _reported_errors(response: Any) -> dict[int, str]:
    try:
        data = response.json()
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    errors: dict[int, str] = {}
    for item in data.get("errors") or []:
        if isinstance(item, dict) and isinstance(item.get("contact_id"), int):
            errors[item["contact_id"]] = str(item.get("error") or "refused")[:500]
    return errors


class WebhookSettings(Schema):
    # Which hosts and schemes are allowed is decided by `check_settings`, by the addresses.
    url = fields.Url(
        required=True,
        schemes={"https", "http"},
        require_tld=False,
        validate=validate.Length(max=2000),
        metadata={"description": "https URL whose host resolves to public addresses only"},
    )


class WebhookCredentials(Schema):
    secret = fields.String(required=True, validate=validate.Length(min=16, max=200))


def check_settings(config: dict[str, Any], settings: Settings) -> None:
    """Refuse a URL outside the allowed addresses (AddressRefused), its lookup bounded for a person waiting.

    The same check runs again at every request (names can resolve anew).
    """
    check_url(
        str(config["url"]),
        allow_private=settings.webhook_allow_private,
        resolve_timeout_seconds=SAVE_RESOLVE_TIMEOUT_SECONDS,
    )


def open_webhook(opening: Opening) -> SignedWebhook:
    """Open the merchant's endpoint a run delivers to, signed with the destination's secret."""
    return SignedWebhook(
        opening.config["url"],
        opening.secrets["secret"],
        opening.target.id,
        http=opening.http("the webhook endpoint"),
        allow_private=opening.settings.webhook_allow_private,
        ca_bundle=opening.settings.ca_bundle,
    )
