"""The inbox's backlog: deliveries stored but not processed yet, per source, with the oldest's age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.store.models import InboxDelivery, InboxStatus
from integration.store.types import utcnow


def pending_deliveries(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Return pending deliveries in all and per source, each with its oldest's receipt time and age."""
    now = now or utcnow()
    rows = session.execute(
        select(InboxDelivery.source, func.count(), func.min(InboxDelivery.received_at))
        .where(InboxDelivery.status == InboxStatus.PENDING)
        .group_by(InboxDelivery.source)
        .order_by(InboxDelivery.source)
    ).all()
    sources: list[dict[str, Any]] = [
        {
            "source": source,
            "pending": count,
            "oldest_received_at": _utc(oldest).isoformat(timespec="seconds"),
            "oldest_age_seconds": max(0, round((now - _utc(oldest)).total_seconds())),
        }
        for source, count, oldest in rows
    ]
    ages: list[int] = [s["oldest_age_seconds"] for s in sources]
    return {
        "pending": sum(s["pending"] for s in sources),
        "oldest_age_seconds": max(ages, default=None),
        "sources": sources,
    }


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for the UTC times it stores.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
