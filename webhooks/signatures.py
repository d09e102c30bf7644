"""Signature and secret checks of inbound deliveries: pure functions over the raw bytes."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

import shopify
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from integration.crypto import load_ec_public_key


def secret_matches(secret: str, digest: str | None) -> bool:
    """Whether `secret` is the one stored as `digest` (its SHA-256), compared in constant time."""
    return digest is not None and hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), digest)


def sendgrid_signature_valid(
    public_key: str, signature: str | None, timestamp: str | None, body: bytes
) -> bool:
    """Verify SendGrid's signed Event Webhook: ECDSA/SHA-256 over the timestamp header then the raw body."""
    if not signature or not timestamp:
        return False
    try:
        key = load_ec_public_key(public_key)
        key.verify(
            base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def timestamp_within(timestamp: str | None, now: float, tolerance_seconds: float) -> bool:
    """Whether a Unix-seconds timestamp header is at most `tolerance_seconds` from `now`, either way."""
    if timestamp is None or not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return False
    return abs(now - int(timestamp)) <= tolerance_seconds


def shopify_webhook_valid(secrets: Sequence[str], signature: str | None, body: bytes) -> bool:
    """Verify `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body, with any current secret.

    Two secrets are accepted during a rotation (Shopify may sign with the old one for an hour).
    """
    if not signature:
        return False
    try:
        expected = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    valid = False
    for secret in secrets:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        # Every secret is tried, so the time taken does not tell which one matched.
        valid |= hmac.compare_digest(digest, expected)
    return valid


@functools.lru_cache(maxsize=8)
def _signer(secret: str) -> type[shopify.Session]:
    # ShopifyAPI keeps the secret on the class; a subclass per secret avoids shared global state.
    return type("ShopifySigner", (shopify.Session,), {"secret": secret})


def shopify_query_valid(secrets: Sequence[str], params: Mapping[str, str]) -> bool:
    """Verify the `hmac` of an install or callback query (hex HMAC of the sorted query), at most a day old."""
    if "hmac" not in params or not str(params.get("timestamp", "")).isdigit():
        return False
    valid = False
    for secret in secrets:
        valid |= bool(_signer(secret).validate_params(dict(params)))
    return valid


def shopify_sign_query(secret: str, params: Mapping[str, str]) -> str:
    """Return the `hmac` Shopify would put on a query with these parameters (for tests and tools)."""
    return str(_signer(secret).calculate_hmac(dict(params)))


def shopify_sign_body(secret: str, body: bytes) -> str:
    """Return the `X-Shopify-Hmac-Sha256` value Shopify would send for `body`."""
    return _base64_hmac(secret, body)


def woocommerce_webhook_valid(secret: str, signature: str | None, body: bytes) -> bool:
    """Verify `X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body with the webhook's secret."""
    if not signature or not secret:
        return False
    return hmac.compare_digest(_base64_hmac(secret, body).encode(), signature.strip().encode())


def woocommerce_sign_body(secret: str, body: bytes) -> str:
    """Return the `X-WC-Webhook-Signature` value WooCommerce would send for `body`."""
    return _base64_hmac(secret, body)


def _base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
