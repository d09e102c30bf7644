"""Transaction-level advisory locks: writers of one thing take turns until commit (PostgreSQL).

A key is a stable signed 64-bit hash of its parts, so any process names the same thing with the
same key. `hold` takes the keys in sorted order, so two callers never each hold a key the other
waits for; a transaction that calls it several times can still meet another in a cycle, which
PostgreSQL breaks by failing one of them (the caller's retry). Under READ COMMITTED each statement
after the wait sees what the transaction it waited for committed. SQLite needs none of this: BEGIN
IMMEDIATE lets one writer in at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from integration.store.bulk import chunks


def lock_key(*parts: object) -> int:
    """The advisory lock key of these parts (joined by colons)."""
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold(session: Session, keys: Iterable[int]) -> bool:
    """Take these advisory locks until the transaction ends; whether any was taken (PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    ordered = sorted(set(keys))
    for part in chunks(ordered):
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k)"
                " FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
            ),
            {"keys": part},
        )
    return bool(ordered)
