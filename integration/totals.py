"""Each buyer's orders per currency, kept current as orders change.

RFM and the contact statistics read these rows (about one per buyer) instead of aggregating every
order each time. `orders_changed` is the one call every path that writes orders makes with the
contacts it touched: ingestion, deletions, privacy erasure and merges. It recomputes those contacts'
rows from their orders, set-based, so cancellations, refunds and orders that moved to another
contact are reflected as well as new ones; the leaderboard's period rows follow in the same call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, text
from sqlalchemy.orm import Session

from integration import orders as order_rules
from integration.ingest.common import chunks
from integration.store.models import ContactTotals, Order, Store

COLUMNS = (
    "contact_id",
    "currency",
    "account_id",
    "orders",
    "revenue_orders",
    "revenue",
    "first_order_at",
    "last_order_at",
)


def _totals(account_id: int, *where: Any) -> Any:
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    is_revenue = order_rules.revenue()
    return (
        select(
            Order.contact_id,
            Order.currency,
            literal(account_id),
            func.count(),
            func.count().filter(is_revenue),
            func.coalesce(func.sum(Order.total_price).filter(is_revenue), 0),
            func.min(Order.created_at),
            func.max(Order.created_at),
        )
        .where(Order.store_id.in_(stores), Order.contact_id.is_not(None), order_rules.placed(), *where)
        .group_by(Order.contact_id, Order.currency)
    )


def refresh(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Recompute these contacts' rows from their orders."""
    ids = sorted(set(contact_ids))
    for part in chunks(ids):
        session.execute(delete(ContactTotals).where(ContactTotals.contact_id.in_(part)))
        session.execute(
            insert(ContactTotals).from_select(COLUMNS, _totals(account_id, Order.contact_id.in_(part)))
        )


def orders_changed(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Bring everything kept per buyer up to date after these contacts' orders changed."""
    from integration import leaderboard

    ids = {c for c in contact_ids if c is not None}
    if not ids:
        return
    refresh(session, account_id, ids)
    leaderboard.refresh_spend(session, account_id, ids)


def rebuild(session: Session, account_id: int) -> int:
    """Recompute every buyer's rows of the account in one statement (after a bulk load); return rows."""
    session.execute(delete(ContactTotals).where(ContactTotals.account_id == account_id))
    session.execute(insert(ContactTotals).from_select(COLUMNS, _totals(account_id)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE contact_totals"))  # many new rows: plans need their statistics
    return int(session.scalar(select(func.count()).where(ContactTotals.account_id == account_id)) or 0)
