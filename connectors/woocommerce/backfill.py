"""Reading a WooCommerce shop through its REST API: the backfill, the hourly reconciliation of
orders and the daily pass over customers.

**Backfill.** Customers, then orders, each a stage read page by page (100 records a page, oldest
id first, so orders placed meanwhile land on later pages). Each page's records are written in the
same transaction as the stage's next page number: a worker that stops (or a shop that stops
answering) leaves the stage where it was, and the next run goes on from that page, neither losing
nor writing a page twice. A run reads for at most `SLICE_SECONDS` and then hands the stage on (the
job enqueues the next slice), waiting `THROTTLE_SECONDS` between pages: a shop's PHP serves its
shoppers first. Records the schema refuses are counted, logged with their page and position, and
the first one is named on the stage; the others are kept.

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

from marshmallow import Schema, ValidationError
from redis import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.woocommerce import schemas
from connectors.woocommerce.client import Page, WooClient
from connectors.woocommerce.source import write_customers, write_orders
from integration.contacts import engagement
from integration.contract import Outcome
from integration.errors import FatalConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Backfill, BackfillStatus, Store
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
    with session_scope(settings.database_url) as session:
        stage = Backfill(store_id=store_id, stage=STAGES[0], status=BackfillStatus.PENDING, page=1)
        session.add(stage)
        session.flush()
        return stage.id


def _records(schema: Schema, page: Page, kind: str, store_id: int) -> tuple[list[Any], list[str]]:
    """The page's items loaded; the refused ones described by page, position and reason."""
    records, refused = [], []
    for index, item in enumerate(page.items):
        try:
            records.append(schema.load(item))
        except ValidationError as exc:
            reason = json.dumps(exc.normalized_messages(), sort_keys=True)[:300]  # type: ignore[no-untyped-call]
            refused.append(f"page {page.number}, item {index + 1} (id {str(item.get('id'))[:20]}): {reason}")
            logger.info("store %s: invalid WooCommerce %s: %s", store_id, kind, refused[-1])
    return records, refused


def write(session: Session, store: Store, kind: str, records: list[Any]) -> None:
    """Write records of one kind and reclassify the contacts they touched."""
    outcome = KINDS[kind][1](session, store, records)
    if outcome.contact_ids:
        engagement.classify(session, store.account_id, outcome.contact_ids)


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
    """Read a stage's pages from where it stands for up to `slice_seconds`; return its status and
    the id of the stage to run next (itself while it is not finished, the following stage when it
    is, None at the end or when another worker holds it).

    A refusal a retry cannot cure (rejected keys, a 404) fails the stage with the shop's error and
    is raised; anything else leaves it where it is and is raised (the next run goes on from there).
    """
    now = utcnow()
    with session_scope(settings.database_url) as session:
        claimed = session.execute(
            update(Backfill)
            .where(
                Backfill.id == backfill_id,
                Backfill.status.in_((BackfillStatus.PENDING, BackfillStatus.RUNNING)),
            )
            .values(status=BackfillStatus.IMPORTING, claimed_at=now)
        ).rowcount  # type: ignore[attr-defined]
        stage = session.get(Backfill, backfill_id)
        if stage is None:
            raise FatalConnectorError(f"no backfill stage {backfill_id}")
        if not claimed:
            return stage.status.value, None
        store_id, kind, number = stage.store_id, stage.stage, stage.page or 1
    schema = KINDS[kind][0]
    began = clock()
    while True:
        try:
            page = woo.page(kind, number, LISTING)
        except FatalConnectorError as exc:
            _set(
                settings,
                backfill_id,
                status=BackfillStatus.FAILED,
                error=str(exc)[:2000],
                finished_at=utcnow(),
            )
            raise
        except Exception:
            _set(settings, backfill_id, status=BackfillStatus.RUNNING)
            raise
        records, refused = _records(schema, page, kind, store_id)
        last = number >= page.total_pages or not page.items
        following = None
        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            stage = session.get(Backfill, backfill_id)
            if store is None or stage is None:
                raise FatalConnectorError(f"store {store_id} or its backfill stage is gone")
            if records:
                write(session, store, kind, records)
            stage.page, stage.pages = number + 1, max(page.total_pages, number)
            stage.records += len(records)
            stage.invalid += len(refused)
            if refused and stage.error is None:
                stage.error = refused[0]
            if last:
                stage.status, stage.finished_at = BackfillStatus.COMPLETED, utcnow()
                if kind != STAGES[-1]:
                    # Recorded with the completion, so the next stage cannot be lost between the two.
                    nxt = Backfill(store_id=store_id, stage=STAGES[STAGES.index(kind) + 1], page=1)
                    session.add(nxt)
                    session.flush()
                    following = nxt.id
            elif clock() - began >= slice_seconds:
                stage.status = BackfillStatus.RUNNING
                following = backfill_id
        if last:
            return BackfillStatus.COMPLETED.value, following
        if following is not None:
            return BackfillStatus.RUNNING.value, following
        number += 1
        sleep(throttle_seconds)


def _set(settings: Settings, backfill_id: int, **values: Any) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Backfill).where(Backfill.id == backfill_id).values(**values))


def due(settings: Settings, idle_after: timedelta, stuck_after: timedelta) -> list[int]:
    """Stages the upkeep should run: pending or handed-on ones nobody took up within `idle_after`
    (their job was lost), after putting back those a worker that died left claimed."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Backfill)
            .where(
                Backfill.status == BackfillStatus.IMPORTING,
                Backfill.page.is_not(None),
                Backfill.claimed_at < now - stuck_after,
            )
            .values(status=BackfillStatus.RUNNING)
        )
        return list(
            session.scalars(
                select(Backfill.id).where(
                    Backfill.page.is_not(None),
                    Backfill.status.in_((BackfillStatus.PENDING, BackfillStatus.RUNNING)),
                    (Backfill.claimed_at.is_(None) & (Backfill.started_at < now - idle_after))
                    | (Backfill.claimed_at < now - idle_after),
                )
            )
        )


def _write_pages(
    settings: Settings, store_id: int, kind: str, pages: Any, skip: Callable[[Page], bool]
) -> int:
    """Write each page's valid records (a page `skip` vouches for is passed over); return how many."""
    schema, written = KINDS[kind][0], 0
    for page in pages:
        if skip(page):
            continue
        records, _ = _records(schema, page, kind, store_id)
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
