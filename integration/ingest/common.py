"""What every ingest function shares: the outcome of a batch, newest-version picks, interaction touches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, String, or_, update
from sqlalchemy.orm import Session

from integration.ingest.follow_ups import FollowUp, RefreshRfm, RefreshStats, SyncAccount
from integration.store.bulk import rows_table
from integration.store.models import Contact, InteractionType, table_of
from integration.store.types import UTCDateTime

T = TypeVar("T")


@dataclass
class Outcome:
    """What one ingest call did; `contact_ids` are the contacts whose classification may change.

    `duplicate` counts records already stored as they are (the same event id, or the same version
    of a record, again: a replay); `unchanged` counts those that changed nothing otherwise (an
    older version than the one stored).
    """

    written: int = 0
    unchanged: int = 0
    duplicate: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: set[int] = field(default_factory=set)
    account_id: int | None = None
    # Work its source asks for once the batch is committed (customers to read, a backfill's next stage).
    asked: list[FollowUp] = field(default_factory=list)
    # Orders, or what buyers spent, changed: RFM scores follow.
    orders_changed: bool = False

    def merge(self, other: Outcome) -> Outcome:
        self.written += other.written
        self.unchanged += other.unchanged
        self.duplicate += other.duplicate
        self.skipped.extend(other.skipped)
        self.contact_ids |= other.contact_ids
        self.asked.extend(other.asked)
        self.orders_changed |= other.orders_changed
        return self

    def follow_ups(self) -> list[FollowUp]:
        """Return the work to queue once the batch is committed: what its source asked for, then
        what its changes call for (nothing more without an account)."""
        due: list[FollowUp] = list(self.asked)
        if self.account_id is None:
            return due
        if self.orders_changed:
            due.append(RefreshRfm(self.account_id))
        if self.written or self.contact_ids:
            due += [RefreshStats(self.account_id), SyncAccount(self.account_id)]
        return due

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "duplicate": self.duplicate,
            "skipped": self.skipped,
        }

    def count_stale(self, incoming: datetime, stored: datetime | None) -> None:
        """Count a record not written because a version as new (a duplicate) or newer is stored."""
        if stored is not None and stored == incoming:
            self.duplicate += 1
        else:
            self.unchanged += 1


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
