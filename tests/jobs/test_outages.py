"""The worker and the scheduler, started as Procfile starts them and with no supervisor, ride out a
Redis outage and a PostgreSQL outage and resume by themselves; the web keeps taking deliveries."""

from __future__ import annotations

import json
import signal
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

import jobs.ingest
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.models import InboxDelivery, InboxStatus
from integration.store.redis import connection, forget_connections
from jobs import worker
from jobs.heartbeat import live_processes
from jobs.ingest import request_drain, sweep_inbox_job
from jobs.queues import COMPUTE, INGEST, QUEUES, enqueue, queue
from tests.support.batches import CONSENT, processed, store_deliveries
from tests.support.jobs import add, count_stores_job, sleep_job
from tests.support.processes import (
    Process,
    RestartableRedis,
    process_env,
    proxied_database_url,
    settings_for,
    wait_for,
)
from tests.support.shopify import SECRET, SHOP, app_of, payload
from webhooks.signatures import shopify_sign_body

OUTAGE_SECONDS = 4  # long enough for several probes: each must not add a line to the log
DELIVERIES = 2000


def finished(settings: Settings, job_id: str) -> bool:
    job = Job.fetch(job_id, connection=connection(settings), serializer=JSONSerializer)
    return job.get_status() == JobStatus.FINISHED


def kinds_alive(settings: Settings) -> set[str]:
    return {p["kind"] for p in live_processes(connection(settings)) if p["state"] == "running"}


def test_worker_and_scheduler_ride_out_a_redis_outage(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    env = process_env(tmp_path, database_url, test_redis.url)
    worker = Process(["worker"], env, tmp_path / "worker.log")
    scheduler = Process(["scheduler"], env, tmp_path / "scheduler.log")
    processes += [worker, scheduler]
    settings = settings_for(tmp_path, database_url, test_redis.url)
    before = enqueue(settings, INGEST, add, 1, 2)
    wait_for(lambda: finished(settings, before.id), "a job before the outage")
    wait_for(lambda: scheduler.lines("enqueued"), "the scheduler's first tick")
    under_way = enqueue(settings, INGEST, sleep_job, 2)
    wait_for(lambda: under_way.get_status(refresh=True) == JobStatus.STARTED, "a job under way")

    test_redis.stop()
    forget_connections()
    wait_for(
        lambda: worker.lines("redis unreachable") and scheduler.lines("redis unreachable"),
        "both processes to notice the outage",
    )
    time.sleep(OUTAGE_SECONDS)
    assert worker.alive
    assert scheduler.alive
    test_redis.start()
    wait_for(
        lambda: worker.lines("redis back after") and scheduler.lines("redis back after"),
        "both processes to see Redis back",
    )

    assert worker.alive
    assert scheduler.alive
    # The job under way when Redis went away is given back and runs again; new work runs too.
    wait_for(lambda: finished(settings, under_way.id), "the job under way to be given back and run")
    assert worker.lines(f"job {under_way.id} (tests.support.jobs.sleep_job) given back")
    after = enqueue(settings, INGEST, add, 2, 3)
    wait_for(lambda: finished(settings, after.id), "a job after the outage")
    # The scheduler enqueues again: a periodic job whose interval key is gone is due at once.
    enqueued = len(scheduler.lines("enqueued"))
    connection(settings).delete("storepulse:schedule:sweep-inbox")
    wait_for(lambda: len(scheduler.lines("enqueued")) > enqueued, "the scheduler to tick")
    assert scheduler.lines("enqueued")[-1].endswith("enqueued sweep-inbox")
    wait_for(lambda: kinds_alive(settings) == {"worker", "scheduler"}, "both heartbeats, running")
    for process in (worker, scheduler):
        output = process.output()
        assert len(process.lines("redis unreachable")) == 1, output
        assert len(process.lines("redis back after")) == 1, output
        assert "Traceback" not in output, output
        assert " ERROR " not in output, output


def test_worker_rides_out_a_database_outage(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    proxy, through_proxy = proxied_database_url(database_url)
    worker = Process(["worker"], process_env(tmp_path, through_proxy, test_redis.url), tmp_path / "w.log")
    processes.append(worker)
    settings = settings_for(tmp_path, database_url, test_redis.url)
    before = enqueue(settings, COMPUTE, count_stores_job)
    wait_for(lambda: finished(settings, before.id), "a job before the outage")

    proxy.cut()
    during = enqueue(settings, COMPUTE, count_stores_job)
    wait_for(lambda: worker.lines("database unreachable"), "the worker to notice the outage")
    states = wait_for(
        lambda: [p["state"] for p in live_processes(connection(settings))] == ["waiting for database"],
        "the worker's heartbeat to say it waits for the database",
    )
    assert states
    # The job that met the outage is back on its queue, its retries untouched; nothing failed.
    job = Job.fetch(during.id, connection=connection(settings), serializer=JSONSerializer)
    assert job.get_status() == JobStatus.QUEUED
    assert job.retries_left == during.retries_left
    assert FailedJobRegistry(queue=queue(settings, COMPUTE)).count == 0
    time.sleep(OUTAGE_SECONDS)
    assert worker.alive
    proxy.restore()

    wait_for(lambda: finished(settings, during.id), "the job given back to run once the database is back")
    assert job.latest_result() is not None
    assert worker.alive
    output = worker.output()
    assert len(worker.lines("database unreachable")) == 1, output
    assert len(worker.lines("database back after")) == 1, output
    assert FailedJobRegistry(queue=queue(settings, COMPUTE)).count == 0
    proxy.cut()


def _post_delivery(client: object, customer_id: int) -> int:
    body = json.dumps({**payload("customers_create"), "id": customer_id, **CONSENT}).encode()
    response = client.post(  # type: ignore[attr-defined]
        "/webhooks/shopify",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "customers/create",
            "X-Shopify-Hmac-Sha256": shopify_sign_body(SECRET, body),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-07",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": "2026-07-10T16:15:47.000000Z",
        },
    )
    return int(response.status_code)


def test_the_web_takes_deliveries_while_redis_is_down_and_they_are_processed_after(
    shopify_settings: Settings, shop: int, test_redis: RestartableRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(shopify_settings, redis_url=test_redis.url)
    forget_connections()
    configure(settings)
    app = app_of(settings)
    client = app.test_client()

    test_redis.stop()
    assert [_post_delivery(client, 7000 + n) for n in range(3)] == [200, 200, 200]
    test_redis.start()
    forget_connections()

    # The sweeper enqueues what was stored while Redis was down (here without waiting its delay).
    monkeypatch.setattr(jobs.ingest, "SWEEP_AFTER", timedelta(0))
    enqueue(settings, INGEST, sweep_inbox_job)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.run(settings, burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    with session_scope(settings.database_url) as session:
        statuses = session.scalars(select(InboxDelivery.status)).all()
    assert statuses == [InboxStatus.PROCESSED] * 3


def test_a_drain_cut_off_from_the_database_is_given_back_and_every_delivery_processed_once(
    tmp_path: Path, database_url: str, test_redis: RestartableRedis, processes: list[Process]
) -> None:
    settings = settings_for(tmp_path, database_url, test_redis.url)
    store_id = store_deliveries(settings, DELIVERIES)
    assert request_drain(settings, "shopify", store_id)
    proxy, through_proxy = proxied_database_url(database_url)
    env = process_env(
        tmp_path, through_proxy, test_redis.url, STOREPULSE_ENCRYPTION_KEY=settings.encryption_keys[0]
    )
    worker = Process(["worker"], env, tmp_path / "worker.log")
    processes.append(worker)
    wait_for(lambda: processed(database_url) > 0, "the drain to be under way")

    proxy.cut()  # mid-drain: the batch under way cannot commit
    wait_for(lambda: worker.lines("database unreachable"), "the worker to notice the outage")
    time.sleep(OUTAGE_SECONDS)
    assert worker.alive
    proxy.restore()

    wait_for(lambda: processed(database_url) == DELIVERIES, "every delivery to be processed")
    with session_scope(database_url) as session:
        attempts = session.scalars(select(InboxDelivery.attempts).distinct()).all()
    assert attempts == [1]  # each processed once, none tried and failed in between
    assert len(worker.lines("database unreachable")) == 1, worker.output()
    assert len(worker.lines("database back after")) == 1, worker.output()
    assert " ERROR " not in worker.output(), worker.output()
    for name in QUEUES:
        assert FailedJobRegistry(queue=queue(settings, name)).count == 0, name
    proxy.cut()
