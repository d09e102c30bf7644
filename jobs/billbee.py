"""Billbee jobs: the first import and the passes over modified orders, slice by slice, and the
upkeep that starts them every few minutes.

Rejected credentials (a new API password, a removed user) disconnect the store and tell the
account. Billbee's 429s are waited out by the client (every worker shares the limit); a pass that
still cannot finish is left where it stopped and resumed by the next upkeep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis import RedisError
from sqlalchemy import select

from connectors import paging
from connectors.billbee import sync
from integration.accounts import disconnect_refused
from integration.errors import ConfigError, CredentialsRejected, FatalConnectorError
from integration.settings import get_settings
from integration.store import session_scope
from integration.store.models import Backfill, Platform, Store, StoreState
from jobs.ingest import request_drain
from jobs.queues import INGEST, enqueue, enqueue_once

logger = logging.getLogger(__name__)

POLL_EVERY = timedelta(minutes=3)  # a pass over modified orders at most this often per store
SLICE_SECONDS = 60.0
IDLE_AFTER = timedelta(minutes=10)  # a stage waiting this long for its job lost it
STUCK_AFTER = timedelta(minutes=30)  # a claimed stage's worker died
EARLIER_POLL_SECONDS = 30  # a webhook asks for a pass at most this often per store


def billbee_stage_job(stage_id: int) -> str:
    """Read a slice of a Billbee stage and hand on to the next slice or stage."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        stage = session.get(Backfill, stage_id)
        if stage is None:
            return "missing"
        store_id = stage.store_id
    try:
        billbee = sync.connected(settings, store_id)
        status, following = paging.run(
            settings, sync.paged(billbee), stage_id, slice_seconds=SLICE_SECONDS, throttle_seconds=0
        )
    except CredentialsRejected as exc:
        if _disconnect(store_id, str(exc)):
            logger.warning("Billbee store %s: credentials refused, store disconnected: %s", store_id, exc)
        return "failed"
    except (FatalConnectorError, ConfigError) as exc:
        logger.warning("Billbee stage %s (store %s) stopped: %s", stage_id, store_id, exc)
        return "failed"
    request_drain(settings, "billbee", store_id)  # the pages kept: normalized by the store's drain
    if following is not None:
        try:
            enqueue(settings, INGEST, billbee_stage_job, following)
        except RedisError:
            logger.info("Billbee stage %s handed on without a job: the upkeep runs it", following)
    return status


def _disconnect(store_id: int, why: str) -> bool:
    with session_scope(get_settings().database_url) as session:
        return disconnect_refused(session, store_id, why)


def billbee_poll_job(store_id: int) -> int | None:
    """Begin a pass over the store's modified orders now if none runs; its stage id."""
    settings = get_settings()
    stage_id = sync.next_pass(settings, store_id, timedelta(0))
    if stage_id is not None:
        enqueue(settings, INGEST, billbee_stage_job, stage_id)
    return stage_id


def request_poll(store_id: int) -> bool:
    """Ask for an earlier pass (a Billbee webhook said something changed); at most one per
    EARLIER_POLL_SECONDS per store. False when Redis is unavailable (the schedule does it)."""
    return enqueue_once(
        get_settings(),
        f"storepulse:billbee-poll:{store_id}",
        EARLIER_POLL_SECONDS,
        INGEST,
        billbee_poll_job,
        store_id,
    )


def billbee_upkeep_job() -> dict[str, int]:
    """Start the first import of stores never read, a pass over modified orders where one is due,
    and the slices whose job was lost."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        stores = set(
            session.scalars(
                select(Store.id).where(
                    Store.platform == Platform.BILLBEE,
                    Store.state == StoreState.CONNECTED,
                    Store.credentials.is_not(None),
                )
            )
        )
        started = set(session.scalars(select(Backfill.store_id).where(Backfill.store_id.in_(stores))))
    counts = {"started": 0, "passes": 0, "resumed": 0}
    for store_id in sorted(stores):
        if store_id not in started:
            enqueue(settings, INGEST, billbee_stage_job, sync.start(settings, store_id))
            counts["started"] += 1
            continue
        stage_id = sync.next_pass(settings, store_id, POLL_EVERY)
        if stage_id is not None:
            enqueue(settings, INGEST, billbee_stage_job, stage_id)
            counts["passes"] += 1
    for stage_id, store_id in paging.due(settings, IDLE_AFTER, STUCK_AFTER):
        if store_id in stores:
            enqueue(settings, INGEST, billbee_stage_job, stage_id)
            counts["resumed"] += 1
    return counts
