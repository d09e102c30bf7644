"""A job that fails for good tells its account, when its arguments say which account it is."""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text

from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import Contact, Import, ImportPart, ImportStatus, Notification, NotificationKind
from integration.store.redis import connection
from integration.store.types import utcnow
from jobs.failed import failure_notifier, requeue_failed
from jobs.imports import (
    IMPORT_TIMEOUT_SECONDS,
    LOST_AFTER,
    STOPPED_WITH_PROCESS,
    SWEEP_AFTER,
    queue_import,
    sweep_imports_job,
)
from jobs.queues import COMPUTE, INGEST, QUEUES, enqueue, fetch_job, queue
from tests.support import jobs as test_jobs
from tests.support.builders import make_store
from tests.support.workers import DrainingWorker, start_worker, stop, wait_for


def _drain(settings: Settings) -> None:
    worker = DrainingWorker(
        list(QUEUES),
        connection=connection(settings),
        serializer=JSONSerializer,
        exception_handlers=[failure_notifier(settings)],
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _notices(settings: Settings) -> list[tuple[int, NotificationKind, str, dict[str, object]]]:
    with session_scope(settings.database_url) as session:
        return [
            (n.account_id, n.kind, n.subject, n.data)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]


def test_a_job_of_a_store_tells_its_account_once_its_retries_are_spent(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
    job = enqueue(settings, COMPUTE, test_jobs.store_job_fails, store_id, retry_intervals_seconds=[0])
    _drain(settings)  # the first failure is retried at once and fails again
    assert job.get_status(refresh=True) == "failed"
    assert _notices(settings) == [
        (
            account_id,
            NotificationKind.JOB_FAILED,
            "job:tests.support.jobs.store_job_fails",
            {"job_id": job.id, "function": "tests.support.jobs.store_job_fails", "error": "RuntimeError"},
        )
    ]
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Notification.occurrences)).one() == 1  # not once per try


def test_a_job_whose_account_cannot_be_told_notifies_no_one(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        make_store(session)
    enqueue(settings, COMPUTE, test_jobs.always_fails, "no account here", retry=False)
    _drain(settings)
    assert _notices(settings) == []


REFUSE_CONTACTS = (
    "CREATE FUNCTION refuse_contacts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
    "END $$",
    "CREATE TRIGGER refuse_contacts BEFORE INSERT ON contacts FOR EACH STATEMENT "
    "EXECUTE FUNCTION refuse_contacts()",
)
CUSTOMERS = (
    b"id,email,updated_at\nc1,p1@example.com,2026-04-01T00:00:00Z\nc2,p2@example.com,2026-04-01T00:00:00Z\n"
)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_the_database_stops_stays_running_while_tried_again_then_fails_and_tells(
    settings: Settings,
) -> None:
    """Not a row's fault (the disk is full): the import is not reported as done or left running for
    good. While the job will be tried again it stays running; the last try fails it, with the
    error's class, and the account is told once, as an import (not also as a failed job)."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
        upload = Import(store_id=store_id, kind="customers", filename="c.csv", bytes_total=len(CUSTOMERS))
        session.add(upload)
        session.flush()
        session.add(ImportPart(import_id=upload.id, seq=0, data=CUSTOMERS))
        import_id = upload.id

    def state() -> tuple[ImportStatus, str | None, int]:
        with session_scope(settings.database_url) as session:
            row = session.get(Import, import_id)
            assert row is not None
            return row.status, row.failure, session.scalar(select(func.count()).select_from(Contact)) or 0

    with get_engine(settings.database_url).begin() as conn:
        for statement in REFUSE_CONTACTS:
            conn.execute(text(statement))
    queue_import(replace(settings, job_retries=1), import_id)
    _drain(settings)
    scheduled = ScheduledJobRegistry(queue=queue(settings, INGEST))
    [tried] = scheduled.get_job_ids()  # tried again in 10 s
    assert state() == (ImportStatus.RUNNING, None, 0)
    assert _notices(settings) == []

    scheduled.requeue(tried)  # its time has come: the last try
    _drain(settings)
    assert FailedJobRegistry(queue=queue(settings, INGEST)).get_job_ids() == [tried]  # for the operator
    failure = "the import stopped on an error (OperationalError); the records stored before it are kept"
    assert state() == (ImportStatus.FAILED, failure, 0)
    assert [(a, kind, subject) for a, kind, subject, _ in _notices(settings)] == [
        (account_id, NotificationKind.IMPORT_FAILED, f"import:{import_id}")
    ]

    # Once the database takes writes again, the operator's retry imports the file.
    with get_engine(settings.database_url).begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_contacts ON contacts"))
    assert requeue_failed(settings, [tried]) == 1
    _drain(settings)
    assert state() == (ImportStatus.FINISHED, None, 2)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_whose_worker_dies_with_it_is_failed_when_found_abandoned(settings: Settings) -> None:
    """The worker running an import is killed (out of memory, a machine gone): when RQ finds the job
    abandoned and no try is left, the import is failed, saying so, instead of running for good."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        upload = Import(store_id=store.id, kind="customers", filename="c.csv", bytes_total=len(CUSTOMERS))
        session.add(upload)
        session.flush()
        session.add(ImportPart(import_id=upload.id, seq=0, data=CUSTOMERS))
        import_id, account_id = upload.id, store.account_id

    def status() -> ImportStatus:
        with session_scope(settings.database_url) as session:
            row = session.get(Import, import_id)
            assert row is not None
            return row.status

    worker = start_worker(settings, "--queue", "ingest")
    try:
        with get_engine(settings.database_url).connect() as holding:
            holding.execute(text("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"))  # the import waits
            queue_import(replace(settings, job_retries=0), import_id)
            assert wait_for(lambda: status() == ImportStatus.RUNNING, 60)
            stop(worker, signal.SIGKILL)
            holding.rollback()
    finally:
        stop(worker, signal.SIGKILL)
    assert status() == ImportStatus.RUNNING  # nobody is left to say otherwise, until RQ looks
    # RQ's upkeep, run by any worker once the dead one's job is past its time limit: here, then.
    past_its_limit = time.time() + IMPORT_TIMEOUT_SECONDS + 120
    StartedJobRegistry(queue=queue(settings, INGEST)).cleanup(timestamp=past_its_limit)
    with session_scope(settings.database_url) as session:
        row = session.get(Import, import_id)
        assert row is not None
        assert (row.status, row.failure) == (
            ImportStatus.FAILED,
            "the import stopped when the process running it ended; the records stored before it are kept",
        )
    told = [(a, kind) for a, kind, _, _ in _notices(settings)]
    assert told == [(account_id, NotificationKind.IMPORT_FAILED)]


def _imports(settings: Settings, **started: datetime | None) -> dict[str, int]:
    """Imports of one store by name, each queued (None) or running since the time given."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        made = {
            name: Import(
                store_id=store.id,
                kind="customers",
                filename=f"{name}.csv",
                created_at=utcnow() - timedelta(hours=3),
                status=ImportStatus.QUEUED if at is None else ImportStatus.RUNNING,
                started_at=at,
            )
            for name, at in started.items()
        }
        session.add_all(made.values())
        session.flush()
        return {name: row.id for name, row in made.items()}


def _failed_job(settings: Settings, import_id: int) -> None:
    """The import's job, failed for good (its import never told)."""
    enqueue(settings, INGEST, test_jobs.always_fails, "no account", job_id=f"import-{import_id}", retry=False)
    _drain(settings)


def test_the_sweeper_queues_a_lost_import_again_and_not_one_waiting_its_turn(settings: Settings) -> None:
    ids = _imports(settings, waiting=None, lost=None, failed=None)
    _failed_job(settings, ids["failed"])
    queue_import(settings, ids["waiting"])  # behind other work, its job is still in the queue
    assert sweep_imports_job() == 2
    assert sorted(queue(settings, INGEST).job_ids) == sorted(f"import-{i}" for i in ids.values())
    assert FailedJobRegistry(queue=queue(settings, INGEST)).get_job_ids() == []  # run anew, not twice
    again = fetch_job(settings, f"import-{ids['lost']}")
    assert again is not None
    assert again.timeout == IMPORT_TIMEOUT_SECONDS  # a big file may take longer than other jobs


def test_the_sweeper_fails_a_running_import_whose_job_is_over_and_leaves_a_live_one(
    settings: Settings,
) -> None:
    """A job that failed for good without its import being told (its callback could not write), one
    lost from its queue, or one gone for longer than any try and its retry take, leaves its import
    running for good: the sweeper fails it and tells the account once. One whose job is queued or
    waits for its retry, or whose job is gone since a moment only (a job queued by an earlier
    version), is left alone."""
    a_while = utcnow() - SWEEP_AFTER - timedelta(minutes=1)
    long_ago = utcnow() - LOST_AFTER - timedelta(minutes=1)
    ids = _imports(
        settings,
        failed=a_while,
        gone=long_ago,
        queued=a_while,
        retrying=a_while,
        unnamed=a_while,
        dropped=a_while,
        now=utcnow(),
    )
    _failed_job(settings, ids["failed"])
    queue_import(settings, ids["queued"])
    queue_import(settings, ids["dropped"])
    # Says "queued" while no queue holds it (a Redis restart lost the worker's taking of it).
    queue(settings, INGEST).remove(f"import-{ids['dropped']}")
    retrying = f"import-{ids['retrying']}"
    enqueue(settings, INGEST, test_jobs.always_fails, "later", job_id=retrying, delay_seconds=600)

    sweep_imports_job()
    sweep_imports_job()  # told once, not once per sweep

    with session_scope(settings.database_url) as session:
        states = {i.id: (i.status, i.failure) for i in session.scalars(select(Import))}
    failed = (ImportStatus.FAILED, STOPPED_WITH_PROCESS)
    running = (ImportStatus.RUNNING, None)
    assert states == {
        ids["failed"]: failed,
        ids["gone"]: failed,
        ids["dropped"]: failed,
        ids["queued"]: running,
        ids["retrying"]: running,
        ids["unnamed"]: running,
        ids["now"]: running,
    }
    told = sorted(s for _, kind, s, _ in _notices(settings) if kind == NotificationKind.IMPORT_FAILED)
    assert told == sorted(f"import:{ids[name]}" for name in ("failed", "gone", "dropped"))
