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
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from integration.store.bulk import among, array_literal
from integration.store.models import Contact


def lock_key(*parts: object) -> int:
    """The advisory lock key of these parts (joined by colons)."""
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold(session: Session, keys: Iterable[int], *, shared: bool = False) -> bool:
    """Take these advisory locks until the transaction ends; whether any was taken (PostgreSQL only).

    `shared`: holders of a shared lock on a key run side by side, and a holder of the key's
    (exclusive) lock waits for them all, as they wait for it."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    ordered = sorted(set(keys))
    if not ordered:
        return False
    as_text = array_literal(ordered)  # one statement: the keys travel as one array
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(
        text(
            f"SELECT {function}(k)"  # noqa: S608 - one of two fixed names
            " FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
        ),
        {"keys": ordered if as_text is None else as_text},  # None: not all plain ints (none today)
    )
    return True


def lock_contacts(session: Session, contact_ids: Iterable[int]) -> None:
    """Lock these contacts' rows (in id order) until the transaction ends, before reading what is
    derived from their history (PostgreSQL only).

    What is recomputed from a contact's orders and events (the last interaction, totals, the
    leaderboard's rows) must be computed by one writer at a time: two transactions that each
    changed the contact's orders would each read without the other's change, and the one that
    wrote last would leave the contact without the other's (or fail on the other's new rows). The
    row lock makes the second wait until the first commits; its reads then see both. It is
    `FOR NO KEY UPDATE`, the lock an UPDATE of the contact takes, so an order or event inserted
    for the contact meanwhile (which takes `FOR KEY SHARE` through its foreign key) does not wait.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ordered = sorted(set(contact_ids))
    if ordered:  # one statement: the ids travel as one array
        session.execute(
            select(Contact.id)
            .where(among(session, Contact.id, ordered))
            .order_by(Contact.id)
            .with_for_update(key_share=True)
        )


# How a row held for a change of its own columns is locked: `FOR NO KEY UPDATE`, the lock an UPDATE
# takes. Two holders still take turns, but a row whose foreign key names it (a delivery, an order, a
# contact) can be inserted meanwhile: its key check takes `FOR KEY SHARE`, which `FOR UPDATE` would
# make wait (for a store's row held across a token refresh, every delivery of the store would wait
# for the platform's answer).
FOR_CHANGE: dict[str, Any] = {"key_share": True}
