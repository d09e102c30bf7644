"""Signature and secret checks of inbound deliveries: pure functions over the raw bytes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

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
