"""The scheduler process: enqueue periodic jobs, at most once per interval across all schedulers.

RQ's own cron enqueues with RQ's default (pickle) serializer, while every storepulse queue uses
JSON; so this small loop enqueues through `jobs.queues.enqueue`. A Redis key set with NX and an
expiry of the interval makes the run once-per-interval even with several schedulers running.
When Redis goes away the loop waits with back-off (one log line when it goes, one when it is
back) and carries on; it never touches the database.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any

from redis import RedisError

from integration.settings import Settings
from integration.store.redis import connection
from jobs.billbee import billbee_upkeep_job
from jobs.compute import (
    compute_rfm_all_job,
    expire_engagement_job,
    fold_buyer_notes_job,
    mark_abandoned_checkouts_job,
    prune_leaderboard_job,
    purge_visitors_job,
    refresh_segments_job,
    snapshot_contacts_job,
)
from jobs.heartbeat import RUNNING, STOPPING, WAITING_FOR_REDIS, Heartbeat
from jobs.imports import sweep_imports_job
from jobs.ingest import purge_inbox_job, reclaim_drains_job, sweep_inbox_job
from jobs.outage import REDIS_ERRORS, Backoff, Outage
from jobs.queues import COMPUTE, INGEST, SYNC, enqueue, will_run
from jobs.shopify import shopify_upkeep_job
from jobs.sync import sync_all_job
from jobs.woocommerce import woocommerce_upkeep_job

logger = logging.getLogger(__name__)

TICK_SECONDS = 5
# A periodic job that fails for good is counted as a metric and kept this long for a look, not a month.
PERIODIC_FAILURE_TTL_SECONDS = 3600
PERIODIC_RETRIES = 3


@dataclass(frozen=True)
class Periodic:
    name: str
    every_seconds: int
    queue: str
    func: Callable[..., Any]


PERIODIC = (
    # Cheap: finds stores whose drain died with its worker (heartbeat gone) and drains them again.
    Periodic("reclaim-drains", 5, INGEST, reclaim_drains_job),
    Periodic("sweep-inbox", 60, INGEST, sweep_inbox_job),
    Periodic("sweep-imports", 60, INGEST, sweep_imports_job),
    Periodic("shopify-upkeep", 5 * 60, INGEST, shopify_upkeep_job),
    # WooCommerce never retries a delivery: webhooks re-enabled and orders re-read hourly per store.
    Periodic("woocommerce-upkeep", 5 * 60, INGEST, woocommerce_upkeep_job),
    # Billbee is polled: a pass over modified orders per store at most every 3 minutes.
    Periodic("billbee-upkeep", 60, INGEST, billbee_upkeep_job),
    Periodic("purge-inbox", 60 * 60, INGEST, purge_inbox_job),
    Periodic("mark-abandoned-checkouts", 60, COMPUTE, mark_abandoned_checkouts_job),
    Periodic("expire-engagement", 15 * 60, COMPUTE, expire_engagement_job),
    # Hourly, but only the day's first run records: the snapshot lands soon after midnight UTC.
    Periodic("snapshot-contacts", 60 * 60, COMPUTE, snapshot_contacts_job),
    # Recency moves with the calendar: every account's RFM is recomputed daily (and after orders).
    Periodic("rfm-daily", 24 * 60 * 60, COMPUTE, compute_rfm_all_job),
    Periodic("refresh-segments", 60 * 60, COMPUTE, refresh_segments_job),
    Periodic("prune-leaderboard", 24 * 60 * 60, COMPUTE, prune_leaderboard_job),
    # Imports fold the buyers they noted when they end; this folds them meanwhile and what one left.
    Periodic("fold-buyer-notes", 10 * 60, COMPUTE, fold_buyer_notes_job),
    Periodic("purge-visitors", 60 * 60, COMPUTE, purge_visitors_job),
    # Syncs also run after changes; the schedule retries failed contacts and catches time passing.
    Periodic("sync-all", 15 * 60, SYNC, sync_all_job),
)


def retry_intervals(every_seconds: int) -> list[int]:
    """Back-off for a periodic job: doubling from a twelfth of its period, all within one period."""
    first = min(max(5, every_seconds // 12), 600)
    intervals = [first]
    while len(intervals) < PERIODIC_RETRIES and sum(intervals) + intervals[-1] * 2 <= every_seconds:
        intervals.append(intervals[-1] * 2)
    return intervals


def tick(settings: Settings, periodic: tuple[Periodic, ...] = PERIODIC) -> list[str]:
    """Enqueue every periodic job whose interval has passed; return their names.

    A job still waiting from an earlier period (queued, or scheduled for a retry) is not enqueued
    again: at most one run of each name waits at a time.

    Raises Redis's errors; a job whose interval key was set but that could not be enqueued gets
    its key removed (when Redis still answers), so the next tick enqueues it.
    """
    redis = connection(settings)
    due = []
    for job in periodic:
        key = f"storepulse:schedule:{job.name}"
        if redis.set(key, "1", nx=True, ex=job.every_seconds):
            last_key = f"{key}:job"
            try:
                last = redis.get(last_key)
                if will_run(settings, last.decode() if isinstance(last, bytes) else str(last or "")):
                    continue
                enqueued = enqueue(
                    settings,
                    job.queue,
                    job.func,
                    retry_intervals_seconds=retry_intervals(job.every_seconds),
                    failure_ttl_seconds=PERIODIC_FAILURE_TTL_SECONDS,
                )
                redis.set(last_key, enqueued.id, ex=max(job.every_seconds * 4, PERIODIC_FAILURE_TTL_SECONDS))
            except RedisError:
                with suppress(RedisError):
                    redis.delete(key)
                raise
            due.append(job.name)
    # Checks that run every few seconds would fill the log: only the others are named at INFO.
    named = [p.name for p in periodic if p.name in due and p.every_seconds >= 60]
    if named:
        logger.info("enqueued %s", ", ".join(named))
    return due


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Tick until SIGTERM/SIGINT (or `stop` is set), waiting out Redis outages with back-off.

    The scheduler holds nothing but its heartbeat: interval keys expire by themselves, so stopping
    at any moment loses no run and repeats none.
    """
    stop = stop or threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    beat = Heartbeat(connection(settings), "scheduler", logger)
    redis_outage = Outage("redis", logger)
    backoff = Backoff()
    logger.info("scheduler started: %s", ", ".join(p.name for p in PERIODIC))
    beat.start()
    try:
        while not stop.is_set():
            try:
                due = tick(settings)
            except REDIS_ERRORS as error:
                redis_outage.lost(error)
                beat.set_state(WAITING_FOR_REDIS)
                stop.wait(backoff.next())
                continue
            if redis_outage.back() is not None:
                backoff.reset()
                beat.set_state(RUNNING)
            if due:
                beat.job_started(", ".join(due))
                beat.job_ended()
            stop.wait(TICK_SECONDS)
    finally:
        beat.set_state(STOPPING)
        beat.stop()
        logger.info("scheduler stopped")
