"""Credentials encrypted at rest with rotation; API keys stored only as hashes."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from integration.accounts import authenticate, create_api_key, revoke_api_key
from integration.crypto import decrypt_json, encrypt_json
from integration.errors import ConfigError
from integration.store import session_scope
from integration.store.models import ApiKey
from tests.support.builders import make_store


def test_credentials_round_trip_and_survive_a_key_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encrypt_json((old,), {"access_token": "shpat_123"})
    assert b"shpat_123" not in token
    assert decrypt_json((new, old), token) == {"access_token": "shpat_123"}
    with pytest.raises(ConfigError, match="STOREPULSE_ENCRYPTION_KEY"):
        decrypt_json((new,), token)


def test_an_api_key_is_stored_only_as_its_hash(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        key, token = create_api_key(session, store.account_id, "zapier")
        assert token.startswith(f"sp_{key.prefix}_")
        stored = session.scalars(select(ApiKey)).one()
        assert token not in (stored.key_hash, stored.prefix, stored.name)
        assert authenticate(session, token).account_id == store.account_id
        assert authenticate(session, token + "x") is None
        revoke_api_key(session, key.prefix)
        assert authenticate(session, token) is None
