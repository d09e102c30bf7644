"""WooCommerce jobs: setting a shop up after it connects, its backfill, and the upkeep that keeps
its webhooks on and its orders and customers reconciled.

Rejected keys (the merchant revoked them in WordPress) disconnect the store and tell the account;
nothing is retried until it is connected again. Other refusals are logged; a shop that does not
answer is retried by the job's retries and then by the next upkeep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from redis import RedisError
from sqlalchemy import select

from connectors import paging
from connectors.woocommerce import backfill, setup
from connectors.woocommerce.connection import Connected, connected, disconnect
from integration import accounts
from integration.errors import CredentialsRejected, FatalConnectorError
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.models import Backfill, Platform, Store, StoreState
from integration.store.redis import connection
from integration.store.types import utcnow
from jobs.queues import INGEST, enqueue

logger = logging.getLogger(__name__)
T = TypeVar("T")

RECONCILE_EVERY = timedelta(hours=1)  # webhooks checked and orders re-read
CUSTOMERS_EVERY = timedelta(days=1)
IDLE_AFTER = timedelta(minutes=10)  # a stage waiting this long for its job lost it
STUCK_AFTER = timedelta(minutes=30)  # a claimed stage's worker died (a slice takes about a minute)


def _with_shop(store_id: int, call: Callable[[Settings, Connected], T], failed: T, why: str) -> T:
    """Run `call` with the store's client; rejected keys disconnect the store, other refusals are
    logged; both return `failed`."""
    settings = get_settings()
    try:
        return call(settings, connected(settings, store_id))
    except CredentialsRejected as exc:
        if disconnect(settings, store_id, str(exc)):
            logger.warning("%s (store %s): keys rejected, store disconnected: %s", why, store_id, exc)
        return failed
    except FatalConnectorError as exc:
        logger.warning("%s (store %s): %s", why, store_id, exc)
        return failed


def _zone(name: str | None) -> str | None:
    try:
        return accounts.check_time_zone(name) if name else None
    except ValueError:
        return None  # a name this Python does not know: the store keeps its zone


def set_up_store_job(store_id: int) -> bool:
    """After a shop connects: take its currency, zone and name, subscribe its webhooks, start the backfill."""

    def set_up(settings: Settings, shop: Connected) -> bool:
        details = setup.shop_details(shop.client)
        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            if store is None:
                return False
            store.currency = details.currency
            store.time_zone = _zone(details.time_zone) or store.time_zone
            store.name = details.name or store.name
            started = session.scalar(select(Backfill.id).where(Backfill.store_id == store_id).limit(1))
        setup.ensure_webhooks(shop.client, shop.delivery_url, shop.webhook_secret)
        if started is None:
            enqueue(settings, INGEST, backfill_job, backfill.start(settings, store_id))
        return True

    return _with_shop(store_id, set_up, False, "WooCommerce set-up failed")


def start_backfill_job(store_id: int) -> int | None:
    """Start the store's backfill anew from its first stage; return the stage's id."""

    def start(settings: Settings, shop: Connected) -> int:
        stage_id = backfill.start(settings, store_id)
        enqueue(settings, INGEST, backfill_job, stage_id)
        return stage_id

    return _with_shop(store_id, start, None, "WooCommerce backfill cannot start")


def backfill_job(backfill_id: int) -> str:
    """Read a slice of a backfill stage and hand on to the next slice or stage."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        stage = session.get(Backfill, backfill_id)
        if stage is None:
            return "missing"
        store_id = stage.store_id

    def read(settings: Settings, shop: Connected) -> str:
        status, following = backfill.run(settings, shop.client, backfill_id)
        if following is not None:
            try:
                enqueue(settings, INGEST, backfill_job, following)
            except RedisError:
                logger.info("backfill stage %s handed on without a job: the upkeep runs it", following)
        return status

    return _with_shop(store_id, read, "failed", f"WooCommerce backfill stage {backfill_id} stopped")


def reconcile_store_job(store_id: int, customers: bool = False) -> int:
    """Keep the store's webhooks on, re-read its recently modified orders, and (daily) its customers."""

    def reconcile(settings: Settings, shop: Connected) -> int:
        setup.ensure_webhooks(shop.client, shop.delivery_url, shop.webhook_secret)
        read = backfill.reconcile_orders(settings, shop.client, store_id)
        if customers:
            read += backfill.refresh_customers(settings, shop.client, store_id)
        return read

    return _with_shop(store_id, reconcile, 0, "WooCommerce reconciliation failed")


def woocommerce_upkeep_job() -> dict[str, int]:
    """Set up stores never set up, reconcile stale ones (customers daily), run lost backfill slices."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings.database_url) as session:
        stores = session.execute(
            select(Store.id, Store.reconciled_at).where(
                Store.platform == Platform.WOOCOMMERCE,
                Store.state == StoreState.CONNECTED,
                Store.credentials.is_not(None),
            )
        ).all()
        with_backfill = set(
            session.scalars(select(Backfill.store_id).where(Backfill.store_id.in_([s for s, _ in stores])))
        )
    counts = {"set_up": 0, "reconciled": 0, "resumed": 0}
    redis = connection(settings)
    for store_id, reconciled_at in stores:
        if store_id not in with_backfill:
            enqueue(settings, INGEST, set_up_store_job, store_id)
            counts["set_up"] += 1
        elif reconciled_at is None or reconciled_at < now - RECONCILE_EVERY:
            # Once a day per store, the customers are read too.
            daily = bool(
                redis.set(
                    f"storepulse:woocommerce:{store_id}:customers-read",
                    "1",
                    nx=True,
                    ex=int(CUSTOMERS_EVERY.total_seconds()),
                )
            )
            enqueue(settings, INGEST, reconcile_store_job, store_id, daily)
            counts["reconciled"] += 1
    connected_ids = {store_id for store_id, _ in stores}
    for stage_id, store_id in paging.due(settings, IDLE_AFTER, STUCK_AFTER):
        if store_id in connected_ids:
            enqueue(settings, INGEST, backfill_job, stage_id)
            counts["resumed"] += 1
    return counts
