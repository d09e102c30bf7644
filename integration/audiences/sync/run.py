"""The sync run: send a sync's planned difference to its destination, batch by batch, in threads.

A run claims its sync, plans page by page, hands batches to the destination client (up to its
`concurrency` at once) and records each batch's outcome as it comes back. A destination that
refuses the credentials or the address stops the sync until they change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from integration.audiences.sync.plan import plan_page
from integration.audiences.sync.record import finish_run, forget_unwanted, record_batch, whole_batch_failed
from integration.contract import Change, Delivery, DestinationClient, Target
from integration.errors import (
    AddressRefused,
    CredentialsRejected,
    FatalConnectorError,
    RetriableConnectorError,
)
from integration.operations import metrics
from integration.store import session_scope
from integration.store.models import Sync, SyncRun
from integration.store.types import utcnow

STALE_RUN = timedelta(hours=2, minutes=5)  # a run claimed longer ago died with its worker (job timeout)
MAX_FAILED_BATCHES = 3  # batches failing one after another end the run: the destination is down

# Opens the client a run delivers to (`connectors.registry.opener` gives the real one).
DestinationFactory = Callable[[Target], DestinationClient]


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
        finish_run(database_url, sync_id, run_id, "failed", f"{type(exc).__name__}: {exc}", stop=False)
        raise
    finish_run(database_url, sync_id, run_id, status, error, stop=status == "stopped")
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
    concurrency = max(1, destination.concurrency)
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
                outcome = whole_batch_failed(part, exc, transient=True)
                stop = stop or ("stopped", str(exc))
            except RetriableConnectorError as exc:
                outcome = whole_batch_failed(part, exc, transient=True)
                failed_in_a_row += 1
            except FatalConnectorError as exc:
                outcome = whole_batch_failed(part, exc, transient=False)
            if failed_in_a_row >= MAX_FAILED_BATCHES and stop is None:
                stop = ("failed", f"{MAX_FAILED_BATCHES} batches failed in a row; the rest waits for a run")
            if stop is None:
                fill()  # more goes out before this outcome is written: batches never share a contact
            # After a stop nothing new goes out, but what is already out is awaited and recorded.
            record_batch(database_url, sync_id, run_id, part, outcome)
            metrics.sync_batch_recorded(
                destination.name, [c.contact_id for c in part], outcome.done, running.exception() is not None
            )
    if stop is not None:
        return stop
    with session_scope(database_url) as session:
        record = session.get(SyncRun, run_id)
        assert record is not None  # noqa: S101 - made by the caller
        forget_unwanted(session, target, now)
        return ("partial" if record.failed else "succeeded"), None
