"""Shopify jobs: backfill stages, customer reads, reconciliation, and the periodic upkeep that drives them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_, select

from connectors.shopify import backfill
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connection import client_for
from integration.errors import FatalConnectorError
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    BackfillStatus,
    Contact,
    Platform,
    Store,
    StoreCustomer,
    StoreState,
)
from integration.store.types import utcnow
from jobs.queues import INGEST, enqueue

logger = logging.getLogger(__name__)
T = TypeVar("T")

POLL_AFTER = timedelta(minutes=2)  # a stage still running then is polled (its finish webhook may be lost)
STUCK_AFTER = timedelta(hours=1)  # a stage claimed this long ago by a worker that died is put back
CONSENT_READ_WITHIN = timedelta(days=1)  # customers linked this recently still without Shopify consent…
CONSENT_READ_AFTER = timedelta(minutes=10)  # …and not just now (their own read may still be queued)
CONSENT_READ_BATCH = 500
RECONCILE_EVERY = timedelta(hours=1)


def _with_client(store_id: int, call: Callable[[Settings, ShopifyClient], T], failed: T, why: str) -> T:
    """Run `call` with the store's Shopify client; on a fatal connector error (a revoked token, a
    store gone) log `why` with the store's id and return `failed` instead of retrying."""
    settings = get_settings()
    try:
        return call(settings, client_for(settings, store_id))
    except FatalConnectorError as exc:
        logger.warning("%s (store %s): %s", why, store_id, exc)
        return failed


def _store_of_stage(backfill_id: int) -> int | None:
    """The store of a backfill stage; None if the stage is gone."""
    with session_scope(get_settings().database_url) as session:
        stage = session.get(Backfill, backfill_id)
        return stage.store_id if stage is not None else None


def start_backfill_job(store_id: int) -> int | None:
    """Start a store's backfill from its first stage; return the backfill id (None if the store is gone)."""
    return _with_client(
        store_id, lambda s, client: backfill.start(s, client, store_id), None, "backfill cannot start"
    )


def start_stage_job(backfill_id: int) -> bool:
    """Start a backfill stage left pending (Shopify was unreachable when it was due)."""
    store_id = _store_of_stage(backfill_id)
    if store_id is None:
        return False
    return _with_client(
        store_id,
        lambda s, client: backfill.start_pending(s, client, backfill_id),
        False,
        f"backfill stage {backfill_id} cannot start",
    )


def continue_backfill_job(backfill_id: int) -> str:
    """Import a finished backfill stage and start the next one; a running stage is left running."""
    settings = get_settings()
    store_id = _store_of_stage(backfill_id)
    if store_id is None:
        return "missing"
    try:
        return backfill.check(settings, client_for(settings, store_id), backfill_id)
    except FatalConnectorError as exc:
        with session_scope(settings.database_url) as session:
            stage = session.get(Backfill, backfill_id)
            if stage is not None and stage.status in (BackfillStatus.RUNNING, BackfillStatus.IMPORTING):
                stage.status, stage.error = BackfillStatus.FAILED, str(exc)[:2000]
                stage.finished_at = utcnow()
        return "failed"


def read_customers_job(store_id: int, customer_ids: list[str]) -> int:
    """Read customers' consent and tags from Shopify (webhook payloads lack them since API 2025-01)."""
    return _with_client(
        store_id,
        lambda s, client: backfill.read_customers(s, client, store_id, customer_ids),
        0,
        "cannot read customers",
    )


def reconcile_store_job(store_id: int) -> int:
    """Re-read a store's recently updated orders and customers."""
    return _with_client(
        store_id, lambda s, client: backfill.reconcile(s, client, store_id), 0, "cannot reconcile"
    )


def shopify_upkeep_job() -> dict[str, int]:
    """Start missing backfills, poll stages whose finish was not heard of, and reconcile stale stores."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        stores = session.execute(
            select(Store.id, Store.reconciled_at).where(
                Store.platform == Platform.SHOPIFY,
                Store.state == StoreState.CONNECTED,
                Store.credentials.is_not(None),
            )
        ).all()
        with_backfill = set(session.scalars(select(Backfill.store_id).distinct()))
    counts = {"started": 0, "polled": 0, "reconciled": 0, "resumed": 0, "consent_reads": 0}
    for store_id, reconciled_at in stores:
        if store_id not in with_backfill:
            enqueue(settings, INGEST, start_backfill_job, store_id)
            counts["started"] += 1
        elif reconciled_at is None or reconciled_at < now - RECONCILE_EVERY:
            enqueue(settings, INGEST, reconcile_store_job, store_id)
            counts["reconciled"] += 1
    for store_id, _ in stores:
        missing = _without_shopify_consent(settings.database_url, store_id, now)
        if missing:
            # The read asked for when they arrived may have been lost (Redis down at that moment).
            enqueue(settings, INGEST, read_customers_job, store_id, missing)
            counts["consent_reads"] += 1
    connected = {store_id for store_id, _ in stores}
    due = backfill.due(settings, POLL_AFTER, STUCK_AFTER)
    for backfill_id in due["running"]:
        enqueue(settings, INGEST, continue_backfill_job, backfill_id)
        counts["polled"] += 1
    with session_scope(settings.database_url) as session:
        pending = [
            i
            for i, store_id in session.execute(
                select(Backfill.id, Backfill.store_id).where(Backfill.id.in_(due["pending"]))
            )
            if store_id in connected
        ]
    for backfill_id in pending:
        enqueue(settings, INGEST, start_stage_job, backfill_id)
        counts["resumed"] += 1
    return counts


def _without_shopify_consent(url: str, store_id: int, now: datetime) -> list[str]:
    with session_scope(url) as session:
        return list(
            session.scalars(
                select(StoreCustomer.external_id)
                .join(Contact, Contact.id == StoreCustomer.contact_id)
                .where(
                    StoreCustomer.store_id == store_id,
                    StoreCustomer.linked_at > now - CONSENT_READ_WITHIN,
                    StoreCustomer.linked_at < now - CONSENT_READ_AFTER,
                    or_(
                        Contact.subscription_reason.is_(None),
                        ~Contact.subscription_reason.startswith("shopify"),
                    ),
                )
                .limit(CONSENT_READ_BATCH)
            )
        )
