"""Reading a WooCommerce shop through its REST API: the backfill, the hourly reconciliation of
orders and the daily pass over customers.

**Backfill.** Customers, then orders, each a stage read page by page (100 records a page, oldest
id first, so orders placed meanwhile land on later pages), resumably (`connectors.paging`): a run
reads for at most `SLICE_SECONDS`, waiting `THROTTLE_SECONDS` between pages, since a shop's PHP
serves its shoppers first.

**Reconciliation.** WooCommerce never retries a delivery, so every hour the orders modified since
the last run (`modified_after`, with a little overlap) are read again. Customers have no modified
filter: once a day every page of them is read, and a page is written only when its digest differs
from the one kept (in Redis) from the day before. Newer `date_modified_gmt` wins in the store, so
re-reading what the webhooks already brought changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema
from redis import RedisError
from sqlalchemy.orm import Session

from connectors import paging
from connectors.paging import Page, Paged
from connectors.woocommerce import schemas
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.source import write_customers, write_orders
from integration.contacts import engagement
from integration.contract import Outcome
from integration.errors import FatalConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Store
from integration.store.redis import connection
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

STAGES = ("customers", "orders")
LISTING = {"orderby": "id", "order": "asc"}
KINDS: dict[str, tuple[Schema, Callable[[Session, Store, list[Any]], Outcome]]] = {
    "customers": (schemas.CUSTOMER, write_customers),
    "orders": (schemas.ORDER, write_orders),
}
SLICE_SECONDS = 60.0
THROTTLE_SECONDS = 0.2
RECONCILE_OVERLAP = timedelta(minutes=10)  # clocks and commits lag: re-read a little before
RECONCILE_FIRST = timedelta(days=1)
DIGESTS_KEPT_SECONDS = 3 * 24 * 3600


def start(settings: Settings, store_id: int) -> int:
    """Record a new backfill of the store from its first stage; return the stage's id."""
    return paging.start(settings, store_id, STAGES[0])


def write(session: Session, store: Store, kind: str, records: list[Any]) -> None:
    """Write records of one kind and reclassify the contacts they touched."""
    outcome = KINDS[kind][1](session, store, records)
    if outcome.contact_ids:
        engagement.classify(session, store.account_id, outcome.contact_ids)


def _paged(woo: WooClient) -> Paged:
    return Paged(
        fetch=lambda kind, number, _operation: woo.page(kind, number, LISTING),
        schema=lambda kind: KINDS[kind][0],
        write=lambda session, store, kind, records, _page: write(session, store, kind, records),
        stages=STAGES,
    )


def run(
    settings: Settings,
    woo: WooClient,
    backfill_id: int,
    *,
    slice_seconds: float = SLICE_SECONDS,
    throttle_seconds: float = THROTTLE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, int | None]:
    """Read a stage's pages from where it stands (`connectors.paging.run`): its status and the
    stage to run next."""
    return paging.run(
        settings,
        _paged(woo),
        backfill_id,
        slice_seconds=slice_seconds,
        throttle_seconds=throttle_seconds,
        clock=clock,
        sleep=sleep,
    )


def _write_pages(
    settings: Settings, store_id: int, kind: str, pages: Any, skip: Callable[[Page], bool]
) -> int:
    """Write each page's valid records (a page `skip` vouches for is passed over); return how many."""
    schema, written = KINDS[kind][0], 0
    for page in pages:
        if skip(page):
            continue
        records, _ = paging.load(schema, page, kind, store_id)
        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            if store is None:
                raise FatalConnectorError(f"store {store_id} no longer exists")
            if records:
                write(session, store, kind, records)
        written += len(records)
    return written


def reconcile_orders(settings: Settings, woo: WooClient, store_id: int, now: datetime | None = None) -> int:
    """Re-read the orders modified since the last reconciliation; return how many were read."""
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is None:
            raise FatalConnectorError(f"no store {store_id}")
        since = (store.reconciled_at or now - RECONCILE_FIRST) - RECONCILE_OVERLAP
    params = {**LISTING, "modified_after": since.strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true"}
    read = _write_pages(settings, store_id, "orders", woo.pages("orders", params), lambda _: False)
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is not None:
            store.reconciled_at = now
    return read


def _digest_key(store_id: int) -> str:
    return f"storepulse:woocommerce:{store_id}:customer-pages"


def refresh_customers(settings: Settings, woo: WooClient, store_id: int) -> int:
    """Read every page of customers, writing the pages whose digest changed; return the customers written.

    Without Redis every page is written (the digests only spare work).
    """
    redis = connection(settings)
    key = _digest_key(store_id)
    try:
        known = {k.decode(): v.decode() for k, v in redis.hgetall(key).items()}  # type: ignore[union-attr]
    except RedisError:
        known = {}
    seen: dict[Any, Any] = {}  # page number → digest

    def unchanged(page: Page) -> bool:
        digest = hashlib.sha256(json.dumps(page.items, sort_keys=True).encode()).hexdigest()
        seen[str(page.number)] = digest
        return known.get(str(page.number)) == digest

    written = _write_pages(settings, store_id, "customers", woo.pages("customers", LISTING), unchanged)
    try:
        pipe = redis.pipeline()
        pipe.delete(key)
        if seen:
            pipe.hset(key, mapping=seen)
            pipe.expire(key, DIGESTS_KEPT_SECONDS)
        pipe.execute()
    except RedisError:
        logger.info("store %s: customer page digests not kept (Redis unavailable)", store_id)
    return written
