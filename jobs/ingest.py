"""Inbox jobs: normalize deliveries into the store; re-enqueue deliveries whose job was lost.

Busy sources (Shopify) are drained in batches: a delivery asks for a drain of its store, and the
drain job processes every fresh pending delivery of that store, DRAIN_BATCH at a time, until none
is left. Different stores drain in parallel on different workers; ingest's version checks keep even
two drains of one store from letting an older version win.

One drain per store runs at a time, with at most one queued behind it, however many deliveries
arrive. Three Redis keys per source and store keep it so:

- *queued*: a drain job is queued (holds its job id); set with NX, so a burst queues one job;
- *running*: the running drain's heartbeat, refreshed every DRAIN_BEAT_SECONDS and expiring after
  DRAIN_HEARTBEAT_SECONDS; while it lives, a delivery only raises *wanted* instead of queueing;
- *wanted*: a delivery arrived since the running drain last looked; the drain looks again before it
  lets go of *running* (atomically, so a delivery is either seen by it or queues the next drain).

A drain whose worker was killed stops beating: `reclaim_drains_job`, run every few seconds by the
scheduler, requests a new drain for every store with fresh pending deliveries and no live drain.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import redis

from connectors.registry import SOURCES
from integration.errors import RetryLater
from integration.follow_ups import (
    ContinueBackfill,
    FollowUp,
    ReadCustomers,
    RefreshRfm,
    RefreshStats,
    SyncAccount,
)
from integration.ingest import inbox
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.redis import connection
from jobs.compute import request_rfm_after_orders, request_stats_refresh
from jobs.queues import INGEST, enqueue, enqueue_or_sweep, others_waiting, will_run
from jobs.shopify import continue_backfill_job, read_customers_job
from jobs.sync import request_account_syncs

logger = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 200
DRAIN_BATCH = 500
DRAIN_SECONDS = 20.0  # then the drain hands over to a new job, so other queued work gets its turn
# Sooner when other work waits (a statistics refresh, a sync, another store's drain): after this
# long, a drain hands over once another job is queued, so that work waits a batch, not 20 s (the
# worker takes its queues in turn).
DRAIN_TURN_SECONDS = 0.2
# What a drain's own batches ask for once the account changed (statistics, syncs, RFM) is queued at
# most this often while it drains, and when it ends or hands over: queued after every batch, it
# would have the drain hand over after every batch, recounting the same busy buyers each time.
ACCOUNT_FOLLOW_UPS_SECONDS = 2.0
HELD = (RefreshStats, SyncAccount, RefreshRfm)
DRAIN_KEY_TTL_SECONDS = 300  # a queued drain's mark; outlives any normal wait in the queue
DRAIN_HEARTBEAT_SECONDS = 10  # a drain not heard of for this long is taken for dead
DRAIN_BEAT_SECONDS = 3.0
DRAINED_SOURCES = (
    "shopify",
    "storefront",
    "woocommerce",
    "billbee",
)  # sources whose deliveries are drained per store

# Raise *wanted*; queue a drain only when none runs and none is queued. 1: the caller enqueues.
_REQUEST = """
redis.call('SET', KEYS[3], '1', 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[3], 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""
# Let go of *running* unless a delivery raised *wanted* since the drain last looked (1: look again).
_RELEASE = """
if redis.call('EXISTS', KEYS[2]) == 1 and ARGV[2] == '1' then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""
# Extend the heartbeat only while it is still this drain's.
_BEAT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class DeliveriesPending(RetryLater):
    """Some deliveries failed transiently; raising makes RQ retry the job with back-off."""


def _drain_keys(source: str, store_id: int) -> tuple[str, str, str]:
    base = f"storepulse:drain:{source}:{store_id}"
    return base, f"{base}:running", f"{base}:wanted"


def process_inbox_job(delivery_ids: list[int]) -> dict[str, int]:
    """Normalize these inbox deliveries (each at most once) and reclassify what they touched."""
    settings = get_settings()
    follow_ups: list[FollowUp] = []
    with session_scope(settings.database_url) as session:
        counts = inbox.process(session, delivery_ids, SOURCES, follow_ups=follow_ups)
    run_follow_ups(settings, follow_ups)
    if counts["retry"]:
        raise DeliveriesPending(f"{counts['retry']} deliveries will be retried")
    return counts


def request_drain(settings: Settings, source: str, store_id: int) -> bool:
    """Ask for a drain of the store's deliveries (queued unless one runs or waits); False if Redis is down."""
    queued, running, wanted = _drain_keys(source, store_id)
    job_id = f"drain-{source}-{store_id}-{uuid.uuid4().hex}"
    try:
        client = connection(settings)
        args: list[int | str] = [DRAIN_KEY_TTL_SECONDS, DRAIN_KEY_TTL_SECONDS, job_id]
        if client.register_script(_REQUEST)(keys=[queued, running, wanted], args=args):
            try:
                enqueue(settings, INGEST, drain_inbox_job, source, store_id, job_id=job_id)
            except BaseException:
                client.delete(queued)  # not queued after all: let the next delivery try
                raise
    except redis.RedisError as exc:
        logger.warning("drain of %s store %s not queued now: %s", source, store_id, exc)
        return False
    return True


def _drain_alive(settings: Settings, source: str, store_id: int) -> bool:
    """Whether a drain of the store runs (its heartbeat lives) or waits in the queue."""
    queued, running, _ = _drain_keys(source, store_id)
    client = connection(settings)
    if client.exists(running):
        return True
    job_id = client.get(queued)
    if job_id is None:
        return False
    if will_run(settings, job_id.decode() if isinstance(job_id, bytes) else str(job_id)):
        return True
    client.delete(queued)  # its job was lost with a worker or a Redis restart
    return False


@contextmanager
def _heartbeat(settings: Settings, key: str, token: str) -> Iterator[None]:
    """Keep the drain's *running* key alive while the block runs; it expires if the process dies."""
    client = connection(settings)
    beat = client.register_script(_BEAT)
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(DRAIN_BEAT_SECONDS):
            try:
                beat(keys=[key], args=[token, DRAIN_HEARTBEAT_SECONDS])
            except redis.RedisError as exc:  # the drain itself will meet the outage
                logger.warning("drain heartbeat missed: %s", exc)

    thread = threading.Thread(target=refresh, name="drain-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def drain_inbox_job(source: str, store_id: int) -> dict[str, int]:
    """Process every fresh pending delivery of a store in batches; those failing for a passing reason
    go to a job of their own (retried with back-off), never back into the drain."""
    settings = get_settings()
    queued, running, wanted = _drain_keys(source, store_id)
    client = connection(settings)
    release = client.register_script(_RELEASE)
    token = uuid.uuid4().hex
    with client.pipeline() as pipe:  # running before the queued mark goes: never neither
        pipe.set(running, token, ex=DRAIN_HEARTBEAT_SECONDS)
        pipe.delete(queued)
        pipe.execute()
    totals = {"processed": 0, "failed": 0, "retry": 0, "skipped": 0}
    started = time.monotonic()
    deadline, turn = started + DRAIN_SECONDS, started + DRAIN_TURN_SECONDS
    held: list[FollowUp] = []
    flushed = started
    hand_over = False
    try:
        with _heartbeat(settings, running, token):
            while True:
                # Cleared before looking: a delivery stored after this moment raises it again.
                client.delete(wanted)
                follow_ups: list[FollowUp] = []
                left: list[int] = []
                with session_scope(settings.database_url) as session:
                    ids = inbox.fresh_pending(session, source, DRAIN_BATCH, store_id)
                    counts = (
                        inbox.process(session, ids, SOURCES, follow_ups=follow_ups, left_pending=left)
                        if ids
                        else None
                    )
                held += [f for f in follow_ups if isinstance(f, HELD)]
                run_follow_ups(settings, [f for f in follow_ups if not isinstance(f, HELD)])
                if held and time.monotonic() > flushed + ACCOUNT_FOLLOW_UPS_SECONDS:
                    run_follow_ups(settings, held)
                    held, flushed = [], time.monotonic()
                if left:
                    # Failed for a passing reason (two workers deadlocked, a connection dropped):
                    # tried again at once by a job of their own, then with RQ's back-off.
                    enqueue_or_sweep(settings, INGEST, process_inbox_job, left)
                for key, value in (counts or {}).items():
                    totals[key] += value
                if counts is None and not release(keys=[running, wanted], args=[token, "1"]):
                    break  # nothing left, nobody asked since: let go
                now = time.monotonic()
                if now > deadline or (now > turn and others_waiting(settings)):
                    hand_over = True
                    break
    finally:
        _send_held(settings, held)  # what the last batches asked for, whatever ended the drain
        release(keys=[running, wanted], args=[token, "0"])
    if hand_over:
        request_drain(settings, source, store_id)
    return totals


def reclaim_drains_job() -> int:
    """Request a drain for each store whose fresh deliveries have no live drain (its worker died)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        stores = inbox.stores_with_fresh_pending(session, DRAINED_SOURCES)
    reclaimed = 0
    for source, store_id in stores:
        if not _drain_alive(settings, source, store_id):
            logger.info("no live drain of %s store %s: requesting one", source, store_id)
            reclaimed += request_drain(settings, source, store_id)
    return reclaimed


# The job each follow-up queues, by its kind: the one place ingest's follow-ups become work.
DISPATCH: dict[type[FollowUp], Callable[[Settings, Any], object]] = {
    RefreshStats: lambda settings, f: request_stats_refresh(settings, f.account_id),
    SyncAccount: lambda settings, f: request_account_syncs(settings, f.account_id),
    RefreshRfm: lambda settings, f: request_rfm_after_orders(settings, f.account_id),
    ReadCustomers: lambda settings, f: enqueue(
        settings, INGEST, read_customers_job, f.store_id, list(f.customer_ids)
    ),
    ContinueBackfill: lambda settings, f: enqueue(settings, INGEST, continue_backfill_job, f.backfill_id),
}


def _send_held(settings: Settings, held: Sequence[FollowUp]) -> None:
    """Queue a drain's held follow-ups as it stops, each on its own; never raises (the drain may be
    stopping for an error of its own, which must stay the one reported)."""
    for follow_up in dict.fromkeys(held):
        try:
            DISPATCH[type(follow_up)](settings, follow_up)
        except Exception as exc:  # noqa: BLE001 - a lost request waits for the next change or schedule
            logger.warning(
                "%s not queued as the drain stopped: %s", type(follow_up).__name__, type(exc).__name__
            )


def run_follow_ups(settings: Settings, follow_ups: Sequence[FollowUp]) -> None:
    """Queue the work that processed deliveries asked for, once each, in the order asked."""
    for follow_up in dict.fromkeys(follow_ups):
        DISPATCH[type(follow_up)](settings, follow_up)


def purge_inbox_job() -> int:
    """Empty raw bodies of deliveries finished longer ago than the retention (personal data goes)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        return inbox.purge_bodies(session, timedelta(days=settings.inbox_retention_days))


def sweep_inbox_job() -> int:
    """Enqueue pending deliveries older than SWEEP_AFTER (say, received while Redis was down)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        ids = inbox.stale_pending(session, SWEEP_AFTER)
    for start in range(0, len(ids), SWEEP_BATCH):
        enqueue(settings, INGEST, process_inbox_job, ids[start : start + SWEEP_BATCH])
    return len(ids)
