"""Inbox jobs: normalize deliveries into the store; re-enqueue deliveries whose job was lost.

Busy sources (Shopify) are drained in batches: a delivery asks for a drain of its store (one Redis
key per source and store, so a burst of deliveries queues one job), and the drain job processes
every fresh pending delivery of that store, DRAIN_BATCH at a time, until none is left. Different
stores drain in parallel on different workers; ingest's version checks keep even two drains of
one store from letting an older version win.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from connectors import SOURCES
from integration import inbox
from integration.settings import Settings, get_settings
from integration.store import session_scope
from jobs.queues import INGEST, connection, enqueue, enqueue_once

logger = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 200
DRAIN_BATCH = 500
DRAIN_SECONDS = 20.0  # then the drain hands over to a new job, so other queued work gets its turn
DRAIN_KEY_TTL_SECONDS = 300


class DeliveriesPending(RuntimeError):
    """Some deliveries failed transiently; raising makes RQ retry the job with back-off."""


def _drain_key(source: str, store_id: int) -> str:
    return f"storepulse:drain:{source}:{store_id}"


def process_inbox_job(delivery_ids: list[int]) -> dict[str, int]:
    """Normalize these inbox deliveries (each at most once) and reclassify what they touched."""
    settings = get_settings()
    follow_ups: list[tuple[str, list[Any]]] = []
    with session_scope(settings.database_url) as session:
        counts = inbox.process(session, delivery_ids, SOURCES, follow_ups=follow_ups)
    run_follow_ups(settings, follow_ups)
    if counts["retry"]:
        raise DeliveriesPending(f"{counts['retry']} deliveries will be retried")
    return counts


def request_drain(settings: Settings, source: str, store_id: int) -> bool:
    """Queue a drain of the store's deliveries unless one is queued; False if Redis is down."""
    return enqueue_once(
        settings,
        _drain_key(source, store_id),
        DRAIN_KEY_TTL_SECONDS,
        INGEST,
        drain_inbox_job,
        source,
        store_id,
    )


def drain_inbox_job(source: str, store_id: int) -> dict[str, int]:
    """Process every fresh pending delivery of a store in batches; retries are left to the sweeper."""
    settings = get_settings()
    totals = {"processed": 0, "failed": 0, "retry": 0, "skipped": 0}
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        # Cleared before looking: a delivery stored after this moment asks for (and gets) a new drain.
        connection(settings).delete(_drain_key(source, store_id))
        follow_ups: list[tuple[str, list[Any]]] = []
        with session_scope(settings.database_url) as session:
            ids = inbox.fresh_pending(session, source, DRAIN_BATCH, store_id)
            if not ids:
                break
            counts = inbox.process(session, ids, SOURCES, follow_ups=follow_ups)
        run_follow_ups(settings, follow_ups)
        for key, value in counts.items():
            totals[key] += value
        if time.monotonic() > deadline:
            request_drain(settings, source, store_id)
            break
    return totals


def run_follow_ups(settings: Settings, follow_ups: list[tuple[str, list[Any]]]) -> None:
    """Enqueue the work that processed deliveries asked for, once each."""
    from jobs.compute import request_rfm_refresh, request_stats_refresh
    from jobs.shopify import FOLLOW_UPS
    from jobs.sync import request_account_syncs

    seen: set[str] = set()
    for name, args in follow_ups:
        key = f"{name}:{args}"
        if key in seen:
            continue
        seen.add(key)
        if name == inbox.STATS_REFRESH:
            request_stats_refresh(settings, *args)
            request_account_syncs(settings, *args)  # the data changed: segments may have too
            continue
        if name == inbox.RFM_REFRESH:
            request_rfm_refresh(settings, *args)
            continue
        queue_name, func = FOLLOW_UPS[name]
        enqueue(settings, queue_name, func, *args)


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
