"""SIGTERM: the worker finishes or gives back its job, the scheduler stops at once, nothing is left
claimed or lost — with the processes started as Procfile starts them."""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text

from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import (
    Contact,
    Import,
    ImportPart,
    ImportStatus,
    InboxDelivery,
    InboxStatus,
    Notification,
    NotificationKind,
)
from integration.store.redis import connection
from jobs.heartbeat import live_processes
from jobs.imports import queue_import
from jobs.ingest import request_drain
from jobs.queues import INGEST, QUEUES, enqueue, queue
from tests.support.batches import processed, store_deliveries
from tests.support.builders import make_store
from tests.support.jobs import sleep_job
from tests.support.processes import Process, RestartableRedis, process_env, settings_for, wait_for

DELIVERIES = 3000  # several drain batches: the first commits long before the last


def test_sigterm_mid_drain_gives_the_job_back_and_every_delivery_is_processed_once(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    settings = settings_for(tmp_path, database_url, test_redis.url)
    store_id = store_deliveries(settings, DELIVERIES)
    assert request_drain(settings, "shopify", store_id)
    env = process_env(
        tmp_path,
        database_url,
        test_redis.url,
        # No grace: the drain is interrupted at once, however fast this machine drains the rest.
        STOREPULSE_SHUTDOWN_GRACE_SECONDS="0",
        STOREPULSE_ENCRYPTION_KEY=settings.encryption_keys[0],
    )
    worker = Process(["worker"], env, tmp_path / "worker.log")
    processes.append(worker)
    wait_for(lambda: processed(database_url) > 0, "the drain to be under way")

    assert worker.terminate() == 0, worker.output()
    assert processed(database_url) < DELIVERIES  # stopped mid-drain
    assert worker.lines("given back to queue ingest"), worker.output()
    client = connection(settings)
    for name in QUEUES:
        assert StartedJobRegistry(queue=queue(settings, name)).count == 0, name
    assert list(client.scan_iter(match="rq:scheduler-lock:*")) == []  # RQ's scheduler let go
    assert live_processes(client) == []

    again = Process(["worker", "--burst"], env, tmp_path / "again.log")
    processes.append(again)
    assert again.popen.wait(timeout=300) == 0, again.output()
    with session_scope(database_url) as session:
        rows = session.execute(select(InboxDelivery.status, InboxDelivery.attempts)).all()
    assert len(rows) == DELIVERIES
    assert {(status, attempts) for status, attempts in rows} == {(InboxStatus.PROCESSED, 1)}
    for name in QUEUES:
        assert StartedJobRegistry(queue=queue(settings, name)).count == 0, name
        assert FailedJobRegistry(queue=queue(settings, name)).count == 0, name


def test_sigterm_lets_the_job_under_way_finish_and_stops_the_scheduler_at_once(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    settings = settings_for(tmp_path, database_url, test_redis.url)
    env = process_env(tmp_path, database_url, test_redis.url, STOREPULSE_SHUTDOWN_GRACE_SECONDS="30")
    worker = Process(["worker"], env, tmp_path / "worker.log")
    scheduler = Process(["scheduler"], env, tmp_path / "scheduler.log")
    processes += [worker, scheduler]
    wait_for(lambda: scheduler.lines("enqueued"), "the scheduler's first tick")
    job = enqueue(settings, INGEST, sleep_job, 3)
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.STARTED, "the worker to take the job")

    assert scheduler.terminate() == 0
    assert worker.terminate() == 0
    fetched = Job.fetch(job.id, connection=connection(settings), serializer=JSONSerializer)
    assert fetched.get_status() == JobStatus.FINISHED
    assert fetched.return_value() == "slept"
    assert StartedJobRegistry(queue=queue(settings, INGEST)).count == 0
    assert list(connection(settings).scan_iter(match="rq:scheduler-lock:*")) == []
    assert live_processes(connection(settings)) == []
    assert scheduler.lines("scheduler stopped")


def test_a_second_sigterm_gives_the_job_back_at_once(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    settings = settings_for(tmp_path, database_url, test_redis.url)
    env = process_env(tmp_path, database_url, test_redis.url, STOREPULSE_SHUTDOWN_GRACE_SECONDS="600")
    worker = Process(["worker"], env, tmp_path / "worker.log")
    processes.append(worker)
    job = enqueue(settings, INGEST, sleep_job, 600)
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.STARTED, "the worker to take the job")

    worker.popen.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.lines("has 600 s to finish"), "the worker to start stopping")
    time.sleep(1.5)  # RQ takes a second signal within a second for an echo of the first
    assert worker.terminate() == 0, worker.output()
    assert job.get_status(refresh=True) == JobStatus.QUEUED
    assert job.retries_left == settings.job_retries
    assert StartedJobRegistry(queue=queue(settings, INGEST)).count == 0
    assert FailedJobRegistry(queue=queue(settings, INGEST)).count == 0


def test_sigterm_mid_import_on_its_last_try_gives_it_back_without_failing_it(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    """A worker told to stop interrupts an import on its last try: the try is given back with the
    import still running and nobody told, and the next worker imports the file to its end."""
    settings = settings_for(tmp_path, database_url, test_redis.url)
    rows = b"id,email,updated_at\n" + b"".join(
        b"c%d,p%d@example.com,2026-04-01T00:00:00Z\n" % (i, i) for i in range(1, 4)
    )
    with session_scope(database_url) as session:
        store = make_store(session)
        upload = Import(store_id=store.id, kind="customers", filename="c.csv", bytes_total=len(rows))
        session.add(upload)
        session.flush()
        session.add(ImportPart(import_id=upload.id, seq=0, data=rows))
        import_id = upload.id

    def state() -> tuple[ImportStatus, str | None]:
        with session_scope(database_url) as session:
            row = session.get(Import, import_id)
            assert row is not None
            return row.status, row.failure

    env = process_env(
        tmp_path,
        database_url,
        test_redis.url,
        STOREPULSE_SHUTDOWN_GRACE_SECONDS="0",
        STOREPULSE_ENCRYPTION_KEY=settings.encryption_keys[0],
    )
    with get_engine(database_url).connect() as holding:
        holding.execute(text("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"))  # the import waits
        queue_import(replace(settings, job_retries=0), import_id)  # its only try
        worker = Process(["worker"], env, tmp_path / "worker.log")
        processes.append(worker)
        wait_for(lambda: state()[0] == ImportStatus.RUNNING, "the import to be under way")
        time.sleep(1)  # at the lock
        worker.popen.send_signal(signal.SIGTERM)  # no grace: the try is interrupted at once
        time.sleep(1)
        holding.rollback()  # the batch being stored ends, and with it the interrupted try
    assert worker.popen.wait(timeout=60) == 0, worker.output()
    assert worker.lines("given back to queue ingest"), worker.output()
    assert state() == (ImportStatus.RUNNING, None)
    with session_scope(database_url) as session:
        assert session.scalars(select(Notification)).all() == []

    again = Process(["worker", "--burst"], env, tmp_path / "again.log")
    processes.append(again)
    assert again.popen.wait(timeout=300) == 0, again.output()
    assert state() == (ImportStatus.FINISHED, None)
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 3
        assert session.scalars(select(Notification.kind)).all() == [NotificationKind.IMPORT_FINISHED]
