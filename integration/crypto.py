"""Secrets at rest: store credentials encrypted with Fernet, API keys kept only as hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from integration.errors import ConfigError

API_KEY_PREFIX_BYTES = 6
API_KEY_SECRET_BYTES = 32


def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # The first key encrypts; every key decrypts, so keys can be rotated by prepending a new one.
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt_json(keys: tuple[str, ...], value: dict[str, Any]) -> bytes:
    """Encrypt a JSON-able mapping with the current key."""
    return _fernet(keys).encrypt(json.dumps(value, separators=(",", ":")).encode())


def decrypt_json(keys: tuple[str, ...], token: bytes) -> dict[str, Any]:
    """Decrypt a mapping encrypted with any of the configured keys."""
    try:
        data: dict[str, Any] = json.loads(_fernet(keys).decrypt(token))
    except InvalidToken as exc:
        raise ConfigError(
            "STOREPULSE_ENCRYPTION_KEY", "cannot decrypt stored credentials with the configured keys"
        ) from exc
    return data


def new_encryption_key() -> str:
    """Return a new key for encrypting stored credentials (a value for STOREPULSE_ENCRYPTION_KEY)."""
    return Fernet.generate_key().decode()


@dataclass(frozen=True)
class NewApiKey:
    """A freshly made key: `token` is shown once and never stored."""

    prefix: str
    token: str
    digest: str


def new_api_key() -> NewApiKey:
    """Make an API key `sp_<prefix>_<secret>` and the SHA-256 digest that is stored for it."""
    prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
    token = f"sp_{prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    return NewApiKey(prefix=prefix, token=token, digest=hash_api_key(token))


def hash_api_key(token: str) -> str:
    """Return the digest under which a key is stored and looked up."""
    # The secret part has 256 bits of entropy, so a fast hash cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def load_ec_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """Load an ECDSA public key given as PEM or as the base64 DER that SendGrid's settings show."""
    text = key.strip()
    try:
        loaded = (
            load_pem_public_key(text.encode())
            if text.startswith("-----BEGIN")
            else load_der_public_key(base64.b64decode(text, validate=True))
        )
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ValueError("not an ECDSA public key (PEM or base64 DER)") from exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValueError("not an ECDSA public key")
    return loaded
