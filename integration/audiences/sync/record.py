"""The sync recorder: each contact's outcome of a batch, and a run's counts and end, in the store.

Failed contacts keep owing their delivery and are retried on the next run, up to MAX_ATTEMPTS,
after which they wait until their data changes; refused ones wait at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from integration import notifications
from integration.audiences.sync.plan import desired_contacts
from integration.contract import ADD, LEFT, REMOVE, UPDATE, Change, Delivery, Target
from integration.store import session_scope
from integration.store.models import (
    Contact,
    Destination,
    NotificationKind,
    Segment,
    Sync,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncStatus,
    table_of,
)
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # failed deliveries of one contact before it waits for its data to change
ERROR_SAMPLE_SIZE = 100  # per-contact errors kept on a run
MAX_BOUND_IDS = 5000  # ids bound in one statement (SQLite and PostgreSQL both cap the count)


def whole_batch_failed(part: Sequence[Change], exc: Exception, *, transient: bool) -> Delivery:
    return Delivery(failed=dict.fromkeys((c.contact_id for c in part), str(exc)), transient=transient)


def forget_unwanted(session: Session, target: Target, now: datetime) -> None:
    """Drop the states of contacts that are neither wanted nor possibly in the destination."""
    segment = session.get(Segment, target.segment_id)
    if segment is None:
        return
    wanted = desired_contacts(session, target, segment, now).with_only_columns(Contact.id)
    states = table_of(SyncState)
    session.execute(
        delete(states).where(
            states.c.sync_id == target.id, states.c.member.is_(False), states.c.contact_id.not_in(wanted)
        )
    )


def record_batch(
    database_url: str, sync_id: int, run_id: int, batch: Sequence[Change], outcome: Delivery
) -> None:
    """Write each contact's new state and the run's counts in one transaction."""
    now = utcnow()
    states = table_of(SyncState)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    counted = {ADD: 0, UPDATE: 0, REMOVE: 0}
    failed = 0
    for change in batch:
        base = {"sync_id": sync_id, "contact_id": change.contact_id, "delivered_at": change.delivered_at}
        problem = outcome.failed.get(change.contact_id) or outcome.refused.get(change.contact_id)
        if problem is None and change.contact_id not in outcome.done:
            problem = "the destination did not report on this contact"
        if problem is None:
            counted[change.action] += 1
            if change.action != REMOVE:
                rows.append(
                    base
                    | {
                        "digest": change.digest,
                        "member": True,
                        "address": change.email,
                        "remote_id": outcome.done[change.contact_id] or change.remote_id,
                        "delivered_at": now,
                        "error": None,
                        "attempts": 0,
                    }
                )
            continue
        failed += 1
        if len(errors) < ERROR_SAMPLE_SIZE:
            errors.append({"contact_id": change.contact_id, "action": change.action, "error": problem[:500]})
        refused = change.contact_id in outcome.refused
        tries = change.attempts + (0 if outcome.transient else 1)
        # Refused for good, or failed MAX_ATTEMPTS times: parked until the contact's data changes.
        parked = refused or tries >= MAX_ATTEMPTS
        if change.action == REMOVE:
            # Leaving a tag may be given up on; leaving a marketing audience (opted out) never is.
            rows.append(
                base
                | {
                    "digest": None,
                    "member": not (parked and change.reason == LEFT),
                    "address": change.email,
                    "remote_id": change.remote_id,
                    "error": problem[:2000],
                    "attempts": tries,
                }
            )
        else:
            rows.append(
                base
                | {
                    "digest": change.digest if parked else None,
                    # A failed delivery may have been applied in part: the contact counts as possibly
                    # in the destination, so that leaving (unsubscribing above all) still reaches it.
                    "member": not refused,
                    # Until an update succeeds, the address the destination knows is the old one.
                    "address": change.previous_email or change.email,
                    "remote_id": change.previous_remote_id or change.remote_id,
                    "error": problem[:2000],
                    "attempts": tries,
                }
            )
    with session_scope(database_url) as session:
        ids = [c.contact_id for c in batch if c.known]
        for start in range(0, len(ids), MAX_BOUND_IDS):  # databases bound the parameters of a statement
            chunk = ids[start : start + MAX_BOUND_IDS]
            session.execute(delete(states).where(states.c.sync_id == sync_id, states.c.contact_id.in_(chunk)))
        _insert_states(session, rows)
        record = session.get(SyncRun, run_id, with_for_update=True)
        assert record is not None  # noqa: S101 - made by the caller
        record.adds += counted[ADD]
        record.updates += counted[UPDATE]
        record.removes += counted[REMOVE]
        record.failed += failed
        if errors and len(record.errors) < ERROR_SAMPLE_SIZE:
            record.errors = [*record.errors, *errors][:ERROR_SAMPLE_SIZE]
        if outcome.config:
            sync = session.get(Sync, sync_id)
            assert sync is not None  # noqa: S101
            sync.config = {**sync.config, **outcome.config}


STATE_COLUMNS = (
    "sync_id",
    "contact_id",
    "digest",
    "member",
    "address",
    "remote_id",
    "delivered_at",
    "error",
    "attempts",
)


def _insert_states(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert state rows: PostgreSQL's COPY (a first sync writes a row per contact), else executemany."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(table_of(SyncState).insert(), rows)
        return
    raw = connection.connection.driver_connection
    assert raw is not None  # noqa: S101 - a live connection has its driver's
    command = f"COPY sync_states ({', '.join(STATE_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(command) as copy:
        for row in rows:
            copy.write_row(tuple(row[c] for c in STATE_COLUMNS))


def finish_run(
    database_url: str, sync_id: int, run_id: int, status: str, error: str | None, *, stop: bool
) -> None:
    now = utcnow()
    with session_scope(database_url) as session:
        record = session.get(SyncRun, run_id)
        sync = session.get(Sync, sync_id)
        if record is None or sync is None:
            return
        record.status, record.error, record.finished_at = SyncRunStatus(status), error, now
        sync.status = SyncStatus.STOPPED if stop else SyncStatus.IDLE
        sync.last_error = error
        if stop:
            destination = session.get(Destination, sync.destination_id)
            if destination is not None:
                destination.last_error = error
            # The vendor's words stay on the run (they may quote a contact); the notice names the sync.
            notifications.notify(
                session,
                sync.account_id,
                NotificationKind.SYNC_STOPPED,
                f"sync:{sync.id}",
                {
                    "sync_id": sync.id,
                    "destination_id": sync.destination_id,
                    "destination": destination.name if destination is not None else None,
                },
            )
        sync.last_run_at = now
        if status in ("succeeded", "partial"):
            record.unchanged = max(0, _member_count(session, sync_id) - record.adds - record.updates)
    if error:
        # The vendor's words may quote a contact: they stay on the run (`storepulse syncs`), not here.
        logger.warning("sync %s run %s %s; its error is recorded on the run", sync_id, run_id, status)


def _member_count(session: Session, sync_id: int) -> int:
    return (
        session.scalar(select(func.count()).where(SyncState.sync_id == sync_id, SyncState.member.is_(True)))
        or 0
    )


def describe_run(record: SyncRun) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": record.status,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "adds": record.adds,
        "updates": record.updates,
        "removes": record.removes,
        "unchanged": record.unchanged,
        "failed": record.failed,
        "error": record.error,
        "errors": record.errors,
    }
