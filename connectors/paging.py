"""Reading a platform's collection page by page into the store, resumably (WooCommerce, Billbee).

A stage (a `Backfill` row with `page` set) is claimed by one worker at a time with a conditional
update. Each page's records are written in the same transaction as the stage's next page number:
a worker that stops, or a platform that stops answering, leaves the stage where it was, and the
next run goes on from that page, neither losing nor writing a page twice. A run reads for at most
`slice_seconds` and then hands the stage on (its job enqueues the next slice), waiting
`throttle_seconds` between pages. Records a schema refuses are counted, logged with their page and
position, and the first one is named on the stage; the others are kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.errors import FatalConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Backfill, BackfillStatus, Store
from integration.store.types import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """One page of a collection: its items, and how many pages the collection has now."""

    number: int
    items: list[dict[str, Any]]
    total_pages: int


@dataclass(frozen=True)
class Paged:
    """How one platform's stages are read and written.

    `fetch(stage, page number, stage's operation id)` reads a page; `write(session, store, stage,
    records, page)` stores the page's loaded records (or the page itself); `schema(stage)` loads
    one item; `stages` is the order of the first import (the next one is recorded when one
    completes); `completed(session, stage)` runs in the transaction that completes a stage.
    """

    fetch: Callable[[str, int, str | None], Page]
    schema: Callable[[str], Schema]
    write: Callable[[Session, Store, str, list[Any], Page], None]
    stages: tuple[str, ...]
    completed: Callable[[Session, Backfill], None] | None = None


def start(settings: Settings, store_id: int, stage: str) -> int:
    """Record a stage to read from its first page; its id."""
    with session_scope(settings.database_url) as session:
        made = Backfill(store_id=store_id, stage=stage, status=BackfillStatus.PENDING, page=1)
        session.add(made)
        session.flush()
        return made.id


def load(schema: Schema, page: Page, stage: str, store_id: int) -> tuple[list[Any], list[str]]:
    """The page's items loaded; the refused ones described by page, position, id and reason."""
    records, refused = [], []
    for index, item in enumerate(page.items):
        try:
            records.append(schema.load(item))
        except ValidationError as exc:
            reason = json.dumps(exc.normalized_messages(), sort_keys=True)[:300]  # type: ignore[no-untyped-call]
            ident = item.get("id", item.get("BillBeeOrderId", item.get("Id")))
            refused.append(f"page {page.number}, item {index + 1} (id {str(ident)[:20]}): {reason}")
            logger.info("store %s: invalid %s record: %s", store_id, stage, refused[-1])
    return records, refused


def run(
    settings: Settings,
    paged: Paged,
    backfill_id: int,
    *,
    slice_seconds: float,
    throttle_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, int | None]:
    """Read a stage's pages from where it stands for up to `slice_seconds`; return its status and
    the id of the stage to run next (itself while it is not finished, the following stage when it
    is, None at the end or when another worker holds it).

    A refusal a retry cannot cure (rejected keys, a 404) fails the stage with the platform's error
    and is raised; anything else leaves it where it is and is raised (the next run goes on).
    """
    with session_scope(settings.database_url) as session:
        claimed = session.execute(
            update(Backfill)
            .where(
                Backfill.id == backfill_id,
                Backfill.status.in_((BackfillStatus.PENDING, BackfillStatus.RUNNING)),
            )
            .values(status=BackfillStatus.IMPORTING, claimed_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
        stage = session.get(Backfill, backfill_id)
        if stage is None:
            raise FatalConnectorError(f"no backfill stage {backfill_id}")
        if not claimed:
            return stage.status.value, None
        store_id, kind, number, operation = stage.store_id, stage.stage, stage.page or 1, stage.operation_id
    schema = paged.schema(kind)
    began = clock()
    while True:
        try:
            page = paged.fetch(kind, number, operation)
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
        records, refused = load(schema, page, kind, store_id)
        last = number >= page.total_pages or not page.items
        following = None
        with session_scope(settings.database_url) as session:
            store = session.get(Store, store_id)
            stage = session.get(Backfill, backfill_id)
            if store is None or stage is None:
                raise FatalConnectorError(f"store {store_id} or its backfill stage is gone")
            if records:
                paged.write(session, store, kind, records, page)
            stage.page, stage.pages = number + 1, max(page.total_pages, number)
            stage.records += len(records)
            stage.invalid += len(refused)
            if refused and stage.error is None:
                stage.error = refused[0]
            if last:
                stage.status, stage.finished_at = BackfillStatus.COMPLETED, utcnow()
                if paged.completed is not None:
                    paged.completed(session, stage)
                if kind in paged.stages and kind != paged.stages[-1]:
                    # Recorded with the completion, so the next stage cannot be lost between the two.
                    nxt = Backfill(
                        store_id=store_id, stage=paged.stages[paged.stages.index(kind) + 1], page=1
                    )
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


def due(settings: Settings, idle_after: timedelta, stuck_after: timedelta) -> list[tuple[int, int]]:
    """Stages read page by page that a job should run: pending or handed-on ones nobody took up
    within `idle_after` (their job was lost), after putting back those a worker that died left
    claimed. Returns (stage id, store id) pairs; each platform's upkeep runs its own stores'."""
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
        rows = session.execute(
            select(Backfill.id, Backfill.store_id).where(
                Backfill.page.is_not(None),
                Backfill.status.in_((BackfillStatus.PENDING, BackfillStatus.RUNNING)),
                (Backfill.claimed_at.is_(None) & (Backfill.started_at < now - idle_after))
                | (Backfill.claimed_at < now - idle_after),
            )
        ).all()
        return [(stage_id, store_id) for stage_id, store_id in rows]
