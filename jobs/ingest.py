"""Inbox jobs: normalize deliveries into the store; re-enqueue deliveries whose job was lost."""

from __future__ import annotations

from datetime import timedelta

from connectors import SOURCES
from integration import inbox
from integration.settings import get_settings
from integration.store import session_scope
from jobs.queues import INGEST, enqueue

SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 200


class DeliveriesPending(RuntimeError):
    """Some deliveries failed transiently; raising makes RQ retry the job with back-off."""


def process_inbox_job(delivery_ids: list[int]) -> dict[str, int]:
    """Normalize these inbox deliveries (each at most once) and reclassify what they touched."""
    with session_scope(get_settings().database_url) as session:
        counts = inbox.process(session, delivery_ids, SOURCES)
    if counts["retry"]:
        raise DeliveriesPending(f"{counts['retry']} deliveries will be retried")
    return counts


def sweep_inbox_job() -> int:
    """Enqueue pending deliveries older than SWEEP_AFTER (say, received while Redis was down)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        ids = inbox.stale_pending(session, SWEEP_AFTER)
    for start in range(0, len(ids), SWEEP_BATCH):
        enqueue(settings, INGEST, process_inbox_job, ids[start : start + SWEEP_BATCH])
    return len(ids)
