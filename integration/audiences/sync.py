"""Sync back: keep a segment in step with a destination, sending only the difference.

A sync remembers per contact what it last delivered (`sync_states`: a digest of the payload,
whether the contact is in the destination, the address and the destination's id for it). A run
compares the segment as it is now with that memory, page by page in contact order (constant
memory), and hands the destination only adds, updates and removes; the destination reports per
contact what it did. Failed contacts keep owing their delivery and are retried on the next run,
up to MAX_ATTEMPTS, after which they wait until their data changes. A dry run (`preview`) walks
the same plan and sends nothing, so its counts are what the next run sends; a new sync is made
paused, so that its first run (every member an add) can be previewed before it is started.

Consent for marketing audiences: only subscribed, unblocked contacts with an email are ever sent
as members; a member who unsubscribes, is blocked or deleted is removed with that reason (which
lets a destination unsubscribe rather than just untag). Nothing here subscribes anybody who was
not subscribed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, func, null, or_, select, update
from sqlalchemy.orm import Session

from integration.audiences import filters
from integration.errors import (
    AddressRefused,
    CredentialsRejected,
    FatalConnectorError,
    RequestRefused,
    RetriableConnectorError,
)
from integration.operations import metrics
from integration.store import session_scope
from integration.store.models import (
    Contact,
    Segment,
    StoreCustomer,
    SubscriptionStatus,
    Sync,
    SyncMode,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncStatus,
    table_of,
)
from integration.store.models import Destination as DestinationRow
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

PAGE_SIZE = 5000  # contacts compared per page of the plan
MAX_ATTEMPTS = 5  # failed deliveries of one contact before it waits for its data to change
SAMPLE_SIZE = 10  # contacts shown per action in a dry run
ERROR_SAMPLE_SIZE = 100  # per-contact errors kept on a run
STALE_RUN = timedelta(hours=2, minutes=5)  # a run claimed longer ago died with its worker (job timeout)
MAX_BOUND_IDS = 5000  # ids bound in one statement (SQLite and PostgreSQL both cap the count)
MAX_FAILED_BATCHES = 3  # batches failing one after another end the run: the destination is down

ADD, UPDATE, REMOVE = "add", "update", "remove"
# Why a member is removed: it left the segment, or it may no longer be marketed to at all.
LEFT, UNSUBSCRIBED, BLOCKED, DELETED = "left", "unsubscribed", "blocked", "deleted"


@dataclass(frozen=True, slots=True)
class Change:
    """One contact's difference between the segment and what the destination has."""

    action: str  # add | update | remove
    contact_id: int
    email: str | None  # for removals: the address delivered earlier
    previous_email: str | None = None  # updates: the address delivered earlier, if it changed
    first_name: str | None = None
    last_name: str | None = None
    remote_id: str | None = None  # the destination's id of the contact (Shopify customer, Klaviyo profile)
    reason: str | None = None  # removals: left | unsubscribed | blocked | deleted
    digest: str | None = None
    attempts: int = 0
    known: bool = False  # the sync has a state for the contact (to replace when recording)
    previous_remote_id: str | None = None  # tags: the customer that carried the tag, if it changed
    delivered_at: datetime | None = None  # when the destination last took the contact's data


@dataclass
class Delivery:
    """What a destination did with a batch of changes: per contact, done or failed and why.

    `refused` are permanent per-contact refusals (e.g. Mailchimp's compliance state): not retried
    until the contact's data changes. `config` holds values the sync should remember (a tag's id).
    """

    done: dict[int, str | None] = field(default_factory=dict)  # contact id -> destination's id
    failed: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # The whole batch failed for a passing reason (the destination down): no contact's attempt counts.
    transient: bool = False


class Destination(Protocol):
    """A place results go. `deliver` reports per-contact outcomes; it raises only for the whole batch:
    CredentialsRejected or AddressRefused (the sync stops), RetriableConnectorError (the batch is
    retried next run) or FatalConnectorError (the batch's contacts are recorded as failed).
    """

    name: str
    batch_size: int
    concurrency: int  # batches it may work on at once (each in its own thread)

    def deliver(self, changes: Sequence[Change]) -> Delivery: ...


@dataclass(frozen=True)
class Target:
    """What a run needs of its sync, read once (no session held while the destination works)."""

    id: int
    account_id: int
    segment_id: int
    destination_id: int
    mode: SyncMode
    config: dict[str, Any]

    @classmethod
    def of(cls, sync: Sync | Target) -> Target:
        if isinstance(sync, Target):
            return sync
        return cls(
            sync.id, sync.account_id, sync.segment_id, sync.destination_id, sync.mode, dict(sync.config)
        )


DestinationFactory = Callable[[Target], Destination]


class SyncError(RequestRefused, ValueError):
    """A sync cannot be set up as asked; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason)


def digest_of(payload: Sequence[Any]) -> str:
    """A short digest of what is sent for a contact (fields joined by a separator they cannot hold)."""
    joined = "\x1f".join("" if value is None else str(value) for value in payload)
    return hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()


def _desired(session: Session, sync: Target, segment: Segment, now: datetime) -> Any:
    """The statement of the contacts that should be in the destination, with what is sent for them."""
    condition = filters.compile_filter(session, filters.parse(segment.filter), now)
    scope = [Contact.account_id == sync.account_id, Contact.deleted_at.is_(None), condition]
    if sync.mode == SyncMode.AUDIENCE:
        # Marketing audiences: consent first, whatever the segment says.
        scope += [
            Contact.subscription_status == SubscriptionStatus.SUBSCRIBED,
            Contact.blocked_reason.is_(None),
            Contact.email != "",
        ]
        remote = None
    else:
        store_id = int((sync.config or {}).get("store_id") or 0)
        remote = (
            select(func.min(StoreCustomer.external_id))
            .where(StoreCustomer.contact_id == Contact.id, StoreCustomer.store_id == store_id)
            .scalar_subquery()
        )
        linked = select(StoreCustomer.id).where(
            StoreCustomer.contact_id == Contact.id, StoreCustomer.store_id == store_id
        )
        scope.append(linked.exists())
    columns: list[Any] = [Contact.id, Contact.email, Contact.first_name, Contact.last_name]
    columns.append(remote.label("remote") if remote is not None else null().label("remote"))
    return select(*columns).where(*scope)


def _removal_reason(row: Any) -> str:
    if row.contact_deleted is not None or row.contact_email is None:
        return DELETED
    if row.blocked_reason is not None:
        return BLOCKED
    if row.subscription_status != SubscriptionStatus.SUBSCRIBED:
        return UNSUBSCRIBED
    return LEFT


def plan(session: Session, sync: Sync | Target, now: datetime | None = None) -> Iterator[Change]:
    """Yield the changes a run of `sync` has to send, in contact order, page by page.

    Contacts that were never delivered and are no longer wanted need no change.
    """
    now = now or utcnow()
    target = Target.of(sync)
    cursor: int | None = 0
    while cursor is not None:
        changes, cursor, _ = plan_page(session, target, cursor, now)
        yield from changes


def plan_page(
    session: Session, sync: Target, cursor: int, now: datetime
) -> tuple[list[Change], int | None, int]:
    """The changes for the next PAGE_SIZE wanted contacts after `cursor`, the next cursor (None: done)
    and how many contacts of the page are wanted."""
    segment = session.get(Segment, sync.segment_id)
    if segment is None:
        return [], None, 0
    desired = _desired(session, sync, segment, now)
    page = session.execute(desired.where(Contact.id > cursor).order_by(Contact.id).limit(PAGE_SIZE)).all()
    upper = page[-1].id if len(page) == PAGE_SIZE else None
    state_scope = [SyncState.sync_id == sync.id, SyncState.contact_id > cursor]
    if upper is not None:
        state_scope.append(SyncState.contact_id <= upper)
    changes: list[Change] = []
    states = {
        row.contact_id: row
        for row in session.execute(
            select(
                SyncState.contact_id,
                SyncState.digest,
                SyncState.member,
                SyncState.address,
                SyncState.remote_id,
                SyncState.attempts,
                SyncState.delivered_at,
                Contact.email.label("contact_email"),
                Contact.deleted_at.label("contact_deleted"),
                Contact.blocked_reason,
                Contact.subscription_status,
            )
            .join(Contact, Contact.id == SyncState.contact_id, isouter=True)
            .where(*state_scope)
        )
    }
    wanted = set()
    tags = sync.mode == SyncMode.TAGS
    tag = sync.config.get("tag")
    for contact_id, email, first_name, last_name, remote in page:
        wanted.add(contact_id)
        digest = digest_of([remote, tag] if tags else [email, first_name, last_name])
        state = states.get(contact_id)
        if state is None:
            changes.append(
                Change(
                    ADD,
                    contact_id,
                    email,
                    None,
                    first_name,
                    last_name,
                    remote if tags else None,
                    digest=digest,
                )
            )
            continue
        if state.digest == digest:
            continue  # delivered as it is now, or given up on until it changes
        delivered = state.member and state.delivered_at is not None
        changes.append(
            Change(
                action=UPDATE if delivered else ADD,
                contact_id=contact_id,
                email=email,
                first_name=first_name,
                last_name=last_name,
                previous_email=state.address if state.member else None,
                remote_id=(remote if tags else None) or state.remote_id,
                digest=digest,
                # New data (a digest was recorded before) deserves fresh attempts.
                attempts=0 if state.digest is not None else state.attempts,
                known=True,
                previous_remote_id=state.remote_id
                if tags and state.member and state.remote_id and state.remote_id != remote
                else None,
                delivered_at=state.delivered_at,
            )
        )
    for contact_id in sorted(set(states) - wanted):
        state = states[contact_id]
        if state.member:
            changes.append(
                Change(
                    action=REMOVE,
                    contact_id=contact_id,
                    email=state.address,
                    remote_id=state.remote_id,
                    reason=_removal_reason(state),
                    attempts=state.attempts,
                    known=True,
                    delivered_at=state.delivered_at,
                )
            )
    return changes, upper, len(page)


def counts(session: Session, sync: Sync) -> dict[str, int]:
    """How many contacts the destination has from this sync, and how many are failing."""
    members = session.scalar(
        select(func.count()).where(
            SyncState.sync_id == sync.id, SyncState.member.is_(True), SyncState.error.is_(None)
        )
    )
    failing = session.scalar(
        select(func.count()).where(SyncState.sync_id == sync.id, SyncState.error.is_not(None))
    )
    return {"delivered": members or 0, "failing": failing or 0}


def preview(session: Session, sync: Sync, now: datetime | None = None) -> dict[str, Any]:
    """A dry run: what the next run would send (counts and a sample), sending nothing."""
    now = now or utcnow()
    totals = {ADD: 0, UPDATE: 0, REMOVE: 0}
    sample: dict[str, list[dict[str, Any]]] = {ADD: [], UPDATE: [], REMOVE: []}
    target, wanted = Target.of(sync), 0
    cursor: int | None = 0
    while cursor is not None:
        changes, cursor, page_wanted = plan_page(session, target, cursor, now)
        wanted += page_wanted
        for change in changes:
            totals[change.action] += 1
            if len(sample[change.action]) < SAMPLE_SIZE:
                sample[change.action].append(
                    {"contact_id": change.contact_id, "email": change.email, "reason": change.reason}
                )
    return {
        "adds": totals[ADD],
        "updates": totals[UPDATE],
        "removes": totals[REMOVE],
        "unchanged": wanted - totals[ADD] - totals[UPDATE],
        "sample": {"adds": sample[ADD], "updates": sample[UPDATE], "removes": sample[REMOVE]},
    }


def claim(session: Session, sync_id: int, now: datetime) -> bool:
    """Mark a sync running unless another run holds it (a run older than STALE_RUN is presumed dead)."""
    claimed = session.execute(
        update(Sync)
        .where(
            Sync.id == sync_id,
            Sync.enabled.is_(True),
            or_(Sync.status == "idle", and_(Sync.status == "running", Sync.run_started_at < now - STALE_RUN)),
        )
        .values(status="running", run_started_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return bool(claimed)


def run(database_url: str, sync_id: int, destination_for: DestinationFactory) -> int | None:
    """Run a sync: send the difference batch by batch, record each contact's outcome; return the run id.

    None when the sync is disabled, stopped or already running. Progress is committed per batch,
    so a run cut short keeps what it delivered.
    """
    now = utcnow()
    with session_scope(database_url) as session:
        if not claim(session, sync_id, now):
            return None
        sync = session.get(Sync, sync_id)
        assert sync is not None  # noqa: S101 - claimed just now
        session.add(record := SyncRun(sync_id=sync_id, started_at=now))
        session.flush()
        run_id = record.id
    try:
        status, error = _send(database_url, sync_id, run_id, destination_for, now)
    except Exception as exc:
        _finish(database_url, sync_id, run_id, "failed", f"{type(exc).__name__}: {exc}", stop=False)
        raise
    _finish(database_url, sync_id, run_id, status, error, stop=status == "stopped")
    return run_id


def _send(
    database_url: str, sync_id: int, run_id: int, destination_for: DestinationFactory, now: datetime
) -> tuple[str, str | None]:
    """Walk the plan and deliver it; return the run's final status and error.

    Pipelined: while the destination works on batches (up to its `concurrency`, in helper
    threads), the next batch is planned and finished outcomes recorded, each in a short
    transaction of its own, so the destination's limits, not the store, set the pace. No
    transaction stays open during a call.
    """
    with session_scope(database_url) as session:
        sync = session.get(Sync, sync_id)
        assert sync is not None  # noqa: S101 - claimed by the caller
        target = Target.of(sync)
    try:
        destination = destination_for(target)
    except FatalConnectorError as exc:  # revoked, disconnected or misconfigured: wait for a fix
        return "stopped", str(exc)

    def batches() -> Iterator[list[Change]]:
        waiting: list[Change] = []
        cursor: int | None = 0
        while cursor is not None:
            with session_scope(database_url) as session:
                changes, cursor, _ = plan_page(session, target, cursor, now)
            waiting.extend(changes)
            while len(waiting) >= destination.batch_size:
                yield waiting[: destination.batch_size]
                waiting = waiting[destination.batch_size :]
        if waiting:
            yield waiting

    failed_in_a_row = 0
    concurrency = max(1, getattr(destination, "concurrency", 1))
    in_flight: deque[tuple[list[Change], Future[Delivery]]] = deque()
    planned = batches()
    ahead = next(planned, None)
    with ThreadPoolExecutor(concurrency, thread_name_prefix=f"sync-{sync_id}") as pool:

        def fill() -> None:
            """Hand batches to the destination while it has room; plan the next one meanwhile."""
            nonlocal ahead
            while ahead is not None and len(in_flight) < concurrency:
                in_flight.append((ahead, pool.submit(destination.deliver, ahead)))
                ahead = next(planned, None)

        fill()
        stop: tuple[str, str] | None = None
        while in_flight:
            part, running = in_flight.popleft()
            try:
                outcome = running.result()
                failed_in_a_row = 0
            except (CredentialsRejected, AddressRefused) as exc:  # nothing goes out until they change
                outcome = _whole_batch_failed(part, exc, transient=True)
                stop = stop or ("stopped", str(exc))
            except RetriableConnectorError as exc:
                outcome = _whole_batch_failed(part, exc, transient=True)
                failed_in_a_row += 1
            except FatalConnectorError as exc:
                outcome = _whole_batch_failed(part, exc, transient=False)
            if failed_in_a_row >= MAX_FAILED_BATCHES and stop is None:
                stop = ("failed", f"{MAX_FAILED_BATCHES} batches failed in a row; the rest waits for a run")
            if stop is None:
                fill()  # more goes out before this outcome is written: batches never share a contact
            # After a stop nothing new goes out, but what is already out is awaited and recorded.
            _record(database_url, sync_id, run_id, part, outcome)
            metrics.sync_batch_recorded(
                destination.name, [c.contact_id for c in part], outcome.done, running.exception() is not None
            )
    if stop is not None:
        return stop
    with session_scope(database_url) as session:
        record = session.get(SyncRun, run_id)
        assert record is not None  # noqa: S101 - made by the caller
        _forget_unwanted(session, target, now)
        return ("partial" if record.failed else "succeeded"), None


def _whole_batch_failed(part: Sequence[Change], exc: Exception, *, transient: bool) -> Delivery:
    return Delivery(failed=dict.fromkeys((c.contact_id for c in part), str(exc)), transient=transient)


def _forget_unwanted(session: Session, target: Target, now: datetime) -> None:
    """Drop the states of contacts that are neither wanted nor possibly in the destination."""
    segment = session.get(Segment, target.segment_id)
    if segment is None:
        return
    wanted = _desired(session, target, segment, now).with_only_columns(Contact.id)
    states = table_of(SyncState)
    session.execute(
        delete(states).where(
            states.c.sync_id == target.id, states.c.member.is_(False), states.c.contact_id.not_in(wanted)
        )
    )


def _record(database_url: str, sync_id: int, run_id: int, batch: Sequence[Change], outcome: Delivery) -> None:
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


def _finish(
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
            destination = session.get(DestinationRow, sync.destination_id)
            if destination is not None:
                destination.last_error = error
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
