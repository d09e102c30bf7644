"""A worker killed with its scheduler and started again: retries waiting for their time run promptly."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rq.job import JobStatus
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from integration.settings import Settings
from integration.store.redis import connection, forget_connections
from jobs.heartbeat import Heartbeat
from jobs.queues import INGEST, enqueue, queue
from jobs.scheduler_lock import SCHEDULER_STOP_SECONDS
from jobs.worker import Worker
from tests.support.jobs import fails_once
from tests.support.processes import RestartableRedis
from tests.support.workers import group_alive, start_worker, stop, wait_for

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

STALL_BOUND_SECONDS = 30


@pytest.fixture
def own_redis(settings: Settings) -> Iterator[Settings]:
    """The test's settings on a Redis server of its own: no other test's process can take its jobs
    or hold RQ's scheduler lock there."""
    server = RestartableRedis()
    server.start()
    forget_connections()
    try:
        yield replace(settings, redis_url=server.url)
    finally:
        forget_connections()
        server.close()


def test_a_restarted_worker_takes_over_the_dead_workers_scheduler_and_runs_its_retries(
    own_redis: Settings, tmp_path: Path
) -> None:
    settings = own_redis
    log = tmp_path / "workers.log"
    first = start_worker(settings, log=log)
    lock = RQScheduler.get_locking_key(INGEST)
    try:
        assert wait_for(lambda: bool(connection(settings).exists(lock)), 120)
    finally:
        stop(first, signal.SIGKILL)  # the worker and its scheduler process: a crash, nothing released
    killed_at = time.monotonic()
    second = start_worker(settings, log=log)
    try:
        job = enqueue(settings, INGEST, fails_once, str(tmp_path / "tried"), retry_intervals_seconds=[1])
        # The first try ran, and failed.
        assert wait_for(lambda: (tmp_path / "tried").exists(), 120), log.read_text(errors="replace")[-4000:]
        assert wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 90, every=0.5)
        stalled = time.monotonic() - killed_at
    finally:
        stop(second)
    assert job.return_value() == "second try"
    assert stalled <= STALL_BOUND_SECONDS


def _fresh_blocking_pop(settings: Settings) -> bool:
    """Whether a client waits in a blocking pop it sent within the last second."""
    return any(
        "b" in client["flags"] and int(client["idle"]) == 0 for client in connection(settings).client_list()
    )


def test_a_worker_killed_alone_leaves_no_blocking_pop_open_through_its_scheduler_process(
    own_redis: Settings, tmp_path: Path
) -> None:
    """The OOM killer ends the worker, not its group: the scheduler process it forked lives on.
    The worker's connection, waiting for a job, must close with the worker, or the next job pushed
    is handed to a socket nobody reads."""
    settings = own_redis
    log = tmp_path / "workers.log"
    worker = start_worker(settings, log=log)
    try:
        started = re.compile(r"Scheduler for .* started with PID (\d+)")
        assert wait_for(lambda: started.search(log.read_text(errors="replace")) is not None, 120)
        # Killed just after sending its pop (it waits SCHEDULER_CHECK_SECONDS for a job): on the
        # server, the pop would stay open for seconds more if another process held its socket.
        assert wait_for(lambda: _fresh_blocking_pop(settings), 60, every=0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
        # The scheduler process lives on until its next heartbeat notices (the test below).

        job = enqueue(settings, INGEST, fails_once, str(tmp_path / "tried"), retry_intervals_seconds=[1])
        blocked = lambda: int(connection(settings).info("clients")["blocked_clients"])  # noqa: E731
        assert wait_for(lambda: blocked() == 0, 1.5, every=0.05)
        assert job.get_status(refresh=True) == JobStatus.QUEUED
        assert queue(settings, INGEST).job_ids == [job.id]
    finally:
        stop(worker, signal.SIGKILL)
    assert not group_alive(worker.pid)


def test_a_scheduler_process_whose_worker_was_killed_alone_stops_and_releases_its_locks(
    own_redis: Settings, tmp_path: Path
) -> None:
    """Orphaned, RQ's scheduler would live on for good, refreshing the scheduler locks and holding
    what the worker had open when it forked it (a transaction the worker left open, with its locks,
    would never end). It stops at its next heartbeat instead, and lets the locks go."""
    settings = own_redis
    log = tmp_path / "workers.log"
    worker = start_worker(settings, log=log)
    lock = RQScheduler.get_locking_key(INGEST)
    try:
        started = re.compile(r"Scheduler for .* started with PID (\d+)")
        assert wait_for(lambda: started.search(log.read_text(errors="replace")) is not None, 120)
        assert wait_for(lambda: bool(connection(settings).exists(lock)), 60)
        os.kill(worker.pid, signal.SIGKILL)  # the worker alone: its group holds the scheduler process
        worker.wait(timeout=60)
        killed_at = time.monotonic()
        stopped = wait_for(lambda: not group_alive(worker.pid), 10, every=0.1)
        assert stopped, log.read_text(errors="replace")[-2000:]
        gone_after = time.monotonic() - killed_at
        assert not connection(settings).exists(lock)
    finally:
        stop(worker, signal.SIGKILL)
    assert gone_after < 5  # a heartbeat a second
    assert "scheduler stops: its worker" in log.read_text(errors="replace")


def _deaf_to_sigterm(ready: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(600)


def test_a_scheduler_process_deaf_to_sigterm_is_killed_and_its_lock_released_when_the_worker_stops(
    own_redis: Settings,
) -> None:
    settings = own_redis
    client = connection(settings)
    beat = Heartbeat(client, "worker", logging.getLogger(__name__))
    worker = Worker([INGEST], connection=client, serializer=JSONSerializer, settings=settings, beat=beat)
    scheduler = RQScheduler([INGEST], connection=client)
    scheduler.acquire_locks()
    assert scheduler.acquired_locks == {INGEST}
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=_deaf_to_sigterm, args=(ready,))
    process.start()
    assert ready.wait(30)
    scheduler._process = process  # as RQ's scheduler keeps its forked process
    worker.scheduler = scheduler

    started = time.monotonic()
    worker.stop_scheduler()

    assert time.monotonic() - started < SCHEDULER_STOP_SECONDS + 5
    assert not process.is_alive()
    assert process.exitcode == -signal.SIGKILL
    assert not client.exists(RQScheduler.get_locking_key(INGEST))


def test_leaving_the_command_channel_does_not_wait_for_a_thread_that_already_read_its_goodbye(
    own_redis: Settings,
) -> None:
    """The race behind minute-long exits: RQ's channel thread reads the unsubscribe reply before its
    running flag is cleared, then waits up to 60 s for a subscription that never comes; redis-py
    8's `stop()` waited for it. Here the thread is put in that state on purpose."""
    settings = own_redis
    client = connection(settings)
    beat = Heartbeat(client, "worker", logging.getLogger(__name__))
    worker = Worker([INGEST], connection=client, serializer=JSONSerializer, settings=settings, beat=beat)
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread is not None
    worker.pubsub.unsubscribe()  # the reply reaches the thread, which goes on reading
    deadline = time.monotonic() + 10
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.pubsub.subscribed
    time.sleep(0.2)  # the thread is back in its read: a wait of up to 60 s for a subscription

    started = time.monotonic()
    worker.unsubscribe()

    assert time.monotonic() - started < 5
    assert worker.pubsub_thread is None
