"""What every ingest function shares: the outcome of a batch, newest-version picks, interaction touches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, String, or_, update
from sqlalchemy.orm import Session

from integration.contract import Outcome
from integration.store.bulk import rows_table
from integration.store.models import Contact, InteractionType, table_of
from integration.store.types import UTCDateTime

T = TypeVar("T")


def newest_by(
    records: Sequence[T], key: str, stamp: str = "updated_at", outcome: Outcome | None = None
) -> dict[str, T]:
    """Keep one record per `key`, the one with the newest `stamp` (the last one on a tie).

    The records left out are counted on `outcome`: as duplicates if as new as the one kept.
    """
    kept: dict[str, T] = {}
    for record in records:
        k = getattr(record, key)
        if k not in kept or getattr(record, stamp) >= getattr(kept[k], stamp):
            kept[k] = record
    if outcome is not None:
        for record in records:
            chosen = kept[getattr(record, key)]
            if record is not chosen:
                outcome.count_stale(getattr(record, stamp), getattr(chosen, stamp))
    return kept


def touch_contacts(session: Session, hits: dict[int, tuple[datetime, InteractionType]]) -> None:
    """Move each contact's last counted interaction forward to the given one if it is newer."""
    if not hits:
        return
    table = table_of(Contact)
    hit = rows_table(
        session,
        "hit",
        {"id": BigInteger(), "at": UTCDateTime(), "type": String()},
        [{"id": cid, "at": at, "type": kind.value} for cid, (at, kind) in hits.items()],
    )
    session.execute(
        update(table)
        .where(
            table.c.id == hit.c.id,
            or_(table.c.last_interaction_at.is_(None), table.c.last_interaction_at < hit.c.at),
        )
        .values(last_interaction_at=hit.c.at, last_interaction_type=hit.c.type)
    )


def newest_hits(
    rows: Iterable[tuple[int | None, datetime, InteractionType]],
) -> dict[int, tuple[datetime, InteractionType]]:
    """Reduce (contact, at, type) rows to each contact's newest one."""
    hits: dict[int, tuple[datetime, InteractionType]] = {}
    for contact_id, at, kind in rows:
        if contact_id is not None and (contact_id not in hits or at > hits[contact_id][0]):
            hits[contact_id] = (at, kind)
    return hits
