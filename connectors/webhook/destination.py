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

from connectors.http import Http, PinnedAddressAdapter
from integration.audiences.sync import REMOVE, Change, Delivery

BATCH_SIZE = 500
SIGNATURE_HEADER = "Storepulse-Signature"


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
