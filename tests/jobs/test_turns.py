"""Work waiting beside a busy inbox gets its turn: a drain hands over within a batch, the worker takes
its queues in turn, and a slow RFM recomputation (seconds at a million contacts) follows orders at
most once in RFM_EVERY_SECONDS, while a recomputation asked for now still runs now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxStatus, StatsCache, Store
from integration.store.redis import connection
from jobs.compute import (
    RFM_EVERY_SECONDS,
    RFM_RAN_KEY,
    RFM_SLOW_SECONDS,
    STATS_REFRESH,
    request_rfm_after_orders,
    request_rfm_refresh,
    request_stats_refresh,
)
from jobs.ingest import request_drain
from jobs.queues import COMPUTE, queue
from tests.support.builders import make_store
from tests.support.workers import count_status, start_worker, stop, store_orders, wait_for

STORED = 4000  # deliveries in the inbox: several seconds of one drain


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_statistics_refresh_asked_for_during_a_long_drain_runs_before_the_drain_ends(
    shopify_settings: Settings, shop: int
) -> None:
    stored = store_orders(shopify_settings, shop, STORED, seed=3)
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        account_id = store.account_id
    request_drain(shopify_settings, "shopify", shop)
    worker = start_worker(shopify_settings)  # every queue, as in production
    try:
        assert wait_for(lambda: count_status(shopify_settings, InboxStatus.PROCESSED) > 0, 120)
        client = connection(shopify_settings)
        client.delete(STATS_REFRESH.key(account_id))  # asked for afresh now, whatever the drain asked
        with session_scope(shopify_settings.database_url) as session:
            session.query(StatsCache).delete()
        assert request_stats_refresh(shopify_settings, account_id)
        # The refresh job takes its key as it starts and writes the statistics as it ends.
        assert wait_for(lambda: _has_stats(shopify_settings, account_id), 60, every=0.05)
        pending = count_status(shopify_settings, InboxStatus.PENDING, stored)
        assert wait_for(lambda: count_status(shopify_settings, InboxStatus.PENDING) == 0, 180, every=0.5)
    finally:
        stop(worker)
    assert pending > 0, "the statistics waited for the whole inbox"


def _has_stats(settings: Settings, account_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        return (
            session.scalar(select(StatsCache.account_id).where(StatsCache.account_id == account_id))
            is not None
        )


def test_rfm_after_orders_of_a_small_account_runs_after_every_batch(
    settings: Settings, run_worker: Any
) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
    compute = queue(settings, COMPUTE)
    for _ in range(2):  # its recomputation takes milliseconds: no pause after it
        assert request_rfm_after_orders(settings, account_id)
        assert [job.func_name for job in compute.jobs] == ["jobs.compute.compute_rfm_job"]
        run_worker()
        assert compute.count == 0
    last = connection(settings).get(f"{RFM_RAN_KEY}:{account_id}")
    assert isinstance(last, bytes)
    assert float(last.split()[1]) < RFM_SLOW_SECONDS
    assert compute.scheduled_job_registry.get_job_ids() == []


def test_rfm_after_orders_waits_out_the_pause_after_a_slow_run(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
    ran = datetime.now(UTC).timestamp() - 10  # what a 3.5 s recomputation 10 s ago leaves
    connection(settings).set(f"{RFM_RAN_KEY}:{account_id}", f"{ran} 3.5")
    compute = queue(settings, COMPUTE)
    assert request_rfm_after_orders(settings, account_id)
    assert request_rfm_after_orders(settings, account_id)  # more orders: still one run waiting
    assert compute.count == 0
    waiting = compute.scheduled_job_registry.get_job_ids()
    assert len(waiting) == 1
    due = compute.scheduled_job_registry.get_scheduled_time(waiting[0])
    assert abs(due.timestamp() - (ran + RFM_EVERY_SECONDS)) < 1
    later = compute.fetch_job(waiting[0])
    assert later is not None
    assert later.func_name == "jobs.compute.compute_rfm_later_job"
    # A scheme saved meanwhile asks for a recomputation now: it is queued now.
    assert request_rfm_refresh(settings, account_id)
    assert [job.func_name for job in compute.jobs] == ["jobs.compute.compute_rfm_job"]


def test_rfm_after_orders_once_the_pause_is_over_runs_at_once(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
    ran = datetime.now(UTC).timestamp() - RFM_EVERY_SECONDS - 1
    connection(settings).set(f"{RFM_RAN_KEY}:{account_id}", f"{ran} 3.5")
    assert request_rfm_after_orders(settings, account_id)
    compute = queue(settings, COMPUTE)
    assert compute.count == 1
    assert compute.scheduled_job_registry.get_job_ids() == []
