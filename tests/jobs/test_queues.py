"""Jobs on real Redis with a real RQ worker: JSON arguments, retries, failures kept and requeued."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import update

from integration.cli import cli
from integration.ingest import inbox
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import InboxDelivery, InboxStatus
from integration.store.redis import connection
from integration.store.types import utcnow
from jobs import schedule
from jobs.ingest import process_inbox_job, sweep_inbox_job
from jobs.queues import INGEST, enqueue, fetch_job, queue, will_run
from tests.support.builders import make_store
from tests.support.jobs import add, always_fails, fails

CUSTOMERS = json.dumps([{"id": "1", "email": "a@example.com", "updated_at": "2026-06-01T10:00:00Z"}]).encode()


def test_a_job_runs_on_a_real_worker_with_json_arguments(settings: Settings, run_worker: Any) -> None:
    job = enqueue(settings, INGEST, add, 2, 3)
    assert json.loads(job.serializer.dumps(job.args)) == [2, 3]
    assert run_worker()
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == 5


def test_an_inbox_delivery_is_processed_by_the_worker(settings: Settings, run_worker: Any) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        received = inbox.receive(
            session, source="api", topic="customers", delivery_id="d1", body=CUSTOMERS, store_id=store.id
        )
    job = enqueue(settings, INGEST, process_inbox_job, [received.id])
    run_worker()
    assert job.return_value() == {"processed": 1, "failed": 0, "retry": 0, "skipped": 0}
    with session_scope(settings.database_url) as session:
        assert session.get(InboxDelivery, received.id).status == InboxStatus.PROCESSED


def test_a_failing_job_is_scheduled_for_a_retry_with_back_off(settings: Settings, run_worker: Any) -> None:
    job = enqueue(settings, INGEST, always_fails, "upstream timeout")
    run_worker()
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == settings.job_retries - 1
    assert job.id in ScheduledJobRegistry(queue=queue(settings, INGEST)).get_job_ids()


@pytest.fixture
def no_retries(settings: Settings) -> Settings:
    once = settings.with_overrides({"job_retries": 0})
    configure(once)
    return once


def test_a_failed_job_is_kept_listed_and_requeued(no_retries: Settings, run_worker: Any, monkeypatch) -> None:
    job = enqueue(no_retries, INGEST, always_fails, "card declined")
    run_worker()
    registry = FailedJobRegistry(queue=queue(no_retries, INGEST))
    assert job.id in registry.get_job_ids()

    monkeypatch.setattr("integration.cli.common.get_settings", lambda: no_retries)
    listed = CliRunner().invoke(cli, ["jobs", "failed", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["id"], r["function"]) for r in rows] == [(job.id, "tests.support.jobs.always_fails")]
    assert rows[0]["error"] == "RuntimeError: card declined"

    requeued = CliRunner().invoke(cli, ["jobs", "requeue", "--all"])
    assert requeued.output.strip() == "requeued 1 job(s)"
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_the_scheduler_enqueues_each_periodic_job_once_per_interval(settings: Settings) -> None:
    assert sorted(schedule.tick(settings)) == sorted(p.name for p in schedule.PERIODIC)
    assert schedule.tick(settings) == []
    for name in {p.queue for p in schedule.PERIODIC}:
        assert queue(settings, name).count == sum(p.queue == name for p in schedule.PERIODIC)


def test_a_failing_periodic_job_is_retried_soon_never_piles_up_and_is_not_kept_a_month(
    settings: Settings, run_worker: Any
) -> None:
    every_ten_seconds = schedule.Periodic("flaky", 10, INGEST, fails)
    assert schedule.tick(settings, (every_ten_seconds,)) == ["flaky"]
    run_worker()
    ingest = queue(settings, INGEST)
    scheduled = ScheduledJobRegistry(queue=ingest)
    [job_id] = scheduled.get_job_ids()
    job = fetch_job(settings, job_id)
    assert job is not None
    # Retried within its period (as after a short PostgreSQL outage), not left failed until the next one.
    assert (scheduled.get_scheduled_time(job) - utcnow()).total_seconds() <= 5

    # Its next period comes while the retry waits: no second run piles up behind it.
    connection(settings).delete("storepulse:schedule:flaky")
    assert schedule.tick(settings, (every_ten_seconds,)) == []
    assert (ingest.count, scheduled.count) == (0, 1)

    scheduled.requeue(job)  # what RQ's scheduler does when the retry is due
    run_worker()
    failed = FailedJobRegistry(queue=ingest)
    assert failed.get_job_ids() == [job.id]
    kept = (failed.get_expiration_time(job) - utcnow()).total_seconds()
    assert kept <= schedule.PERIODIC_FAILURE_TTL_SECONDS <= 24 * 3600


def test_the_sweeper_enqueues_deliveries_whose_job_was_lost(settings: Settings, run_worker: Any) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        lost = inbox.receive(
            session, source="api", topic="customers", delivery_id="lost", body=CUSTOMERS, store_id=store.id
        )
        fresh = inbox.receive(
            session, source="api", topic="customers", delivery_id="fresh", body=CUSTOMERS, store_id=store.id
        )
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id == lost.id)
            .values(received_at=utcnow() - timedelta(minutes=5))
        )
    assert sweep_inbox_job() == 1
    run_worker()
    with session_scope(settings.database_url) as session:
        assert session.get(InboxDelivery, lost.id).status == InboxStatus.PROCESSED
        assert session.get(InboxDelivery, fresh.id).status == InboxStatus.PENDING


def test_draining_the_queues_leaves_the_test_runner_its_signal_handlers(run_worker: Any) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    run_worker()
    assert {sig: signal.getsignal(sig) for sig in before} == before


def _taken_and_forgotten(settings: Settings, job_id: str) -> None:
    """What Redis restarted from its append-only file can leave: the job off its queue, still "queued"."""
    connection(settings).lrem(queue(settings, INGEST).key, 0, job_id)


def test_a_job_is_still_to_run_only_while_its_queue_or_a_registry_holds_it(
    settings: Settings, run_worker: Any
) -> None:
    taken = enqueue(settings, INGEST, add, 5, 6)
    # A worker taking it: RQ moves it off its queue to the intermediate list, then marks it started.
    moved = Queue.lmove(connection(settings), queue(settings, INGEST).key, None)
    assert moved == (queue(settings, INGEST).key, taken.id.encode())
    waiting = enqueue(settings, INGEST, add, 1, 2)
    forgotten = enqueue(settings, INGEST, add, 3, 4)
    _taken_and_forgotten(settings, forgotten.id)
    retried = enqueue(settings, INGEST, fails)

    assert taken.get_status() == JobStatus.QUEUED
    assert will_run(settings, taken.id)
    assert will_run(settings, waiting.id)
    assert forgotten.get_status() == JobStatus.QUEUED
    assert not will_run(settings, forgotten.id)
    assert not will_run(settings, "no-such-job")
    assert not will_run(settings, "not a job id")

    run_worker()
    assert retried.get_status() == JobStatus.SCHEDULED
    assert will_run(settings, retried.id)  # its retry waits in the scheduled registry
    assert waiting.get_status() == JobStatus.FINISHED
    assert not will_run(settings, waiting.id)


def test_a_periodic_job_whose_run_redis_forgot_is_enqueued_again_in_its_next_period(
    settings: Settings,
) -> None:
    every_ten_seconds = schedule.Periodic("forgotten", 10, INGEST, fails)
    assert schedule.tick(settings, (every_ten_seconds,)) == ["forgotten"]
    [job_id] = queue(settings, INGEST).job_ids
    connection(settings).delete("storepulse:schedule:forgotten")  # its next period

    assert schedule.tick(settings, (every_ten_seconds,)) == []  # still waiting: not enqueued twice
    connection(settings).delete("storepulse:schedule:forgotten")
    _taken_and_forgotten(settings, job_id)
    assert schedule.tick(settings, (every_ten_seconds,)) == ["forgotten"]
    assert len(queue(settings, INGEST).job_ids) == 1
