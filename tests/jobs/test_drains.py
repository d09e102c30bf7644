"""Per-store drains with real worker processes: one drain at a time, and a killed worker's work reclaimed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from rq.job import JobStatus
from sqlalchemy import func, select, text

from bench.webhooks import deliveries
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import dispose_engines, get_engine
from integration.store.models import InboxDelivery, InboxStatus, Order
from integration.store.redis import connection
from jobs import schedule
from jobs.ingest import DRAIN_BATCH, drain_inbox_job, reclaim_drains_job, request_drain
from jobs.queues import INGEST, queue
from tests.support.shopify import Deliver
from tests.support.workers import count_status, drain_jobs, start_worker, stop, store_orders, wait_for

# Worker processes share the store: PostgreSQL only (SQLite is one process's file here).
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

STORED = 3000  # deliveries already in the inbox: the drain takes several batches over them
RECLAIM_BOUND_SECONDS = 30


def test_deliveries_arriving_during_a_drain_queue_at_most_one_more_drain(
    shopify_settings: Settings, shop: int, deliver: Deliver
) -> None:
    stored = store_orders(shopify_settings, shop, STORED, seed=1)
    request_drain(shopify_settings, "shopify", shop)
    worker = start_worker(shopify_settings, "--queue", "ingest")
    try:
        assert wait_for(lambda: count_status(shopify_settings, InboxStatus.PROCESSED) > 0, 120)
        posted, most_waiting, still_draining = 0, 0, True
        bodies = iter(deliveries(5000, seed=2))
        # Deliveries keep arriving for as long as the drain works through the stored ones.
        while still_draining:
            for _ in range(10):
                body, _ = next(bodies)
                assert deliver("orders/create", body).status_code == 200
                posted += 1
            most_waiting = max(most_waiting, len(drain_jobs(shopify_settings, waiting_only=True)))
            still_draining = count_status(shopify_settings, InboxStatus.PENDING, stored) > 0
        assert wait_for(lambda: count_status(shopify_settings, InboxStatus.PENDING) == 0, 180, every=0.5)
    finally:
        stop(worker)

    assert posted >= 10
    assert count_status(shopify_settings, InboxStatus.PROCESSED) == STORED + posted
    assert most_waiting <= 1
    jobs = drain_jobs(shopify_settings)
    empty = [job for job in jobs if (job.return_value() or {}).get("processed") == 0]
    assert len(empty) <= 1, f"{len(jobs)} drains, {len(empty)} of them empty"


def test_a_killed_workers_deliveries_are_drained_again_by_another_worker(
    shopify_settings: Settings, shop: int
) -> None:
    stored = store_orders(shopify_settings, shop, STORED, seed=3)
    request_drain(shopify_settings, "shopify", shop)
    first = start_worker(shopify_settings, "--queue", "ingest")
    try:
        # Killed mid-drain: a batch committed, the next one claimed (its rows locked) and under way.
        batch_done = lambda: count_status(shopify_settings, InboxStatus.PROCESSED) >= DRAIN_BATCH  # noqa: E731
        assert wait_for(batch_done, 120, every=0.05)
    finally:
        stop(first, signal.SIGKILL)
    killed_at = time.monotonic()
    done_by_first = count_status(shopify_settings, InboxStatus.PROCESSED)
    assert done_by_first < STORED

    reclaiming = tuple(p for p in schedule.PERIODIC if p.name in {"reclaim-drains", "sweep-inbox"})
    second = start_worker(shopify_settings, "--queue", "ingest")
    resumed_after: float | None = None
    try:

        def progress() -> bool:
            nonlocal resumed_after
            schedule.tick(shopify_settings, reclaiming)  # what the scheduler process does every few seconds
            done = count_status(shopify_settings, InboxStatus.PROCESSED)
            if resumed_after is None and done > done_by_first:
                resumed_after = time.monotonic() - killed_at
            return done == STORED

        assert wait_for(progress, 90, every=1.0)
    finally:
        stop(second)

    assert resumed_after is not None
    assert resumed_after <= RECLAIM_BOUND_SECONDS
    with session_scope(shopify_settings.database_url) as session:
        attempts = session.scalars(select(InboxDelivery.attempts).where(InboxDelivery.id.in_(stored))).all()
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.store_id == shop))
    assert set(attempts) == {1}  # each delivery processed exactly once
    assert orders == STORED


def test_a_delivery_failing_for_a_passing_reason_is_tried_again_without_waiting_for_the_sweeper(
    shopify_settings: Settings, shop: int, run_worker: Callable[[], bool]
) -> None:
    """A drain's delivery that meets a lock it cannot wait for (as a deadlock's loser does) gets a job
    of its own, which runs as soon as a worker is free, instead of waiting minutes for the sweeper."""
    [stored] = store_orders(shopify_settings, shop, 1, seed=5)
    database = get_engine(shopify_settings.database_url).url.database
    admin = get_engine(shopify_settings.database_url)
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{database}\" SET lock_timeout = '500ms'"))
        conn.commit()
    dispose_engines()  # new connections take the database's setting
    try:
        with get_engine(shopify_settings.database_url).connect() as blocker:
            blocker.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))  # held until rollback
            drained = drain_inbox_job("shopify", shop)
            blocker.rollback()
        assert drained["retry"] == 1
        with session_scope(shopify_settings.database_url) as session:
            assert session.get(InboxDelivery, stored).status == InboxStatus.PENDING
        assert run_worker()
    finally:
        with get_engine(shopify_settings.database_url).connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" RESET lock_timeout'))
            conn.commit()
        dispose_engines()

    with session_scope(shopify_settings.database_url) as session:
        delivery = session.get(InboxDelivery, stored)
        assert (delivery.status, delivery.attempts) == (InboxStatus.PROCESSED, 2)
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def test_a_drain_that_redis_forgot_it_handed_out_is_requested_again(
    shopify_settings: Settings, shop: int
) -> None:
    store_orders(shopify_settings, shop, 3, seed=4)
    request_drain(shopify_settings, "shopify", shop)
    [queued] = drain_jobs(shopify_settings, waiting_only=True)
    assert reclaim_drains_job() == 0  # it waits in the queue: nothing to reclaim

    # Redis restarted from its append-only file kept a worker's taking of the job, not what followed.
    connection(shopify_settings).lrem(queue(shopify_settings, INGEST).key, 0, queued.id)
    assert queued.get_status() == JobStatus.QUEUED
    assert reclaim_drains_job() == 1
    [again] = drain_jobs(shopify_settings, waiting_only=True)
    assert again.id != queued.id

    worker = start_worker(shopify_settings, "--queue", "ingest")
    try:
        assert wait_for(lambda: count_status(shopify_settings, InboxStatus.PENDING) == 0, 60)
    finally:
        stop(worker)
