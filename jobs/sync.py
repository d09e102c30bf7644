"""Sync jobs: run a sync when its data may have changed (debounced) and on a schedule.

A run is asked for when a sync is started, after deliveries changed an account's data, after a
segment is edited, when a destination gets new credentials, and every 15 minutes; a paused sync
(every new one until it is started) is never asked for, and a run of one does nothing. One Redis
key per sync keeps a burst of requests to one queued job (the job clears the key before it reads,
so a change made while it runs asks for the next run). Runs of one destination take turns under a
lock; vendors' limits per API key (Mailchimp's connections, Klaviyo's rates) are kept in Redis
across destinations and processes (`connectors.limits`).
"""

from __future__ import annotations

import logging

from redis.exceptions import LockError

from connectors.registry import opener
from integration.audiences import destinations, sync
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.models import Sync
from integration.store.redis import connection
from jobs.queues import JOB_TIMEOUT_SECONDS, SYNC, Debounce

logger = logging.getLogger(__name__)

REQUEST_TTL_SECONDS = 600
# A run may wait for a bulk operation (Shopify) or import jobs (Klaviyo) to finish.
RUN_TIMEOUT_SECONDS = 2 * 3600


SYNC_RUN = Debounce("storepulse:sync-run", SYNC, REQUEST_TTL_SECONDS, timeout_seconds=RUN_TIMEOUT_SECONDS)


def request_sync(settings: Settings, sync_id: int) -> bool:
    """Queue a run of a sync unless one is queued already; False if Redis is down (the schedule will)."""
    return SYNC_RUN.request(settings, run_sync_job, sync_id)


def request_account_syncs(settings: Settings, account_id: int) -> int:
    """Queue a run of every started (not paused, not stopped) sync of an account; return how many."""
    with session_scope(settings.database_url) as session:
        ids = destinations.enabled_sync_ids(session, account_id)
    for sync_id in ids:
        request_sync(settings, sync_id)
    return len(ids)


def run_sync_job(sync_id: int) -> int | None:
    """Send a sync's difference to its destination; return the run's id (None: nothing ran)."""
    settings = get_settings()
    SYNC_RUN.taken(settings, sync_id)
    redis = connection(settings)
    with session_scope(settings.database_url) as session:
        found = session.get(Sync, sync_id)
        destination_id = found.destination_id if found is not None else None
    if destination_id is None:
        return None
    lock = redis.lock(
        f"storepulse:destination-lock:{destination_id}",
        timeout=RUN_TIMEOUT_SECONDS,
        blocking_timeout=JOB_TIMEOUT_SECONDS,
    )
    if not lock.acquire():
        logger.info("destination %s busy; sync %s asks again", destination_id, sync_id)
        request_sync(settings, sync_id)
        return None
    try:
        return sync.run(settings.database_url, sync_id, opener(settings, redis=redis))
    finally:
        try:
            lock.release()
        except LockError:  # held past its timeout: another run may have it now
            logger.warning("destination lock of sync %s expired during the run", sync_id)


def sync_all_job() -> int:
    """Ask for a run of every started sync (the schedule: failed contacts retried, nothing missed)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        ids = destinations.enabled_sync_ids(session)
    for sync_id in ids:
        request_sync(settings, sync_id)
    return len(ids)
