"""A connected store's backfill as the merchant sees it: each stage's progress, outcome and error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.store.models import Backfill, Store


def store_backfill(session: Session, store: Store) -> dict[str, Any]:
    """The store's connection state, last reconciliation and backfill stages, oldest first.

    A stage's `status` is `pending`, `starting`, `running`, `importing`, `completed` or `failed`;
    a failed stage carries the platform's error and is not retried (a new backfill starts over).
    """
    stages = session.scalars(select(Backfill).where(Backfill.store_id == store.id).order_by(Backfill.id))
    return {
        "store_id": store.id,
        "state": store.state.value,
        "reconciled_at": store.reconciled_at.isoformat() if store.reconciled_at else None,
        "backfill": [
            {
                "id": b.id,
                "stage": b.stage,
                "status": b.status,
                "records": b.records,
                "invalid": b.invalid,
                "page": b.page,  # read page by page (WooCommerce): the next page, and how many
                "pages": b.pages,
                "error": b.error,
                "started_at": b.started_at.isoformat(),
                "finished_at": b.finished_at.isoformat() if b.finished_at else None,
            }
            for b in stages
        ],
    }


def stage_status(session: Session, backfill_id: int) -> tuple[str, str | None]:
    """A backfill stage's status and error; `pending` (no error) while the stage is not recorded yet."""
    stage = session.get(Backfill, backfill_id)
    return (stage.status, stage.error) if stage is not None else ("pending", None)
