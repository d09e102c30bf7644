"""Each buyer's orders per currency, and per buyer over its currencies, kept current as orders change.

The contact statistics read the per-currency rows (`contact_totals`) and RFM the per-buyer ones
(`buyers`) instead of aggregating every order each time. `orders_changed` is the one call every
path that writes orders makes with the contacts it touched: ingestion, deletions, privacy erasure
and merges. It recomputes those contacts' rows from their orders, set-based, so cancellations,
refunds and orders that moved to another contact are reflected as well as new ones; the
leaderboard's period rows follow in the same call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session, aliased

from integration.analytics import period_spend
from integration.commerce import orders as order_rules
from integration.store.bulk import among, chunks
from integration.store.models import Buyer, ContactTotals, Order, Store

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
            func.coalesce(func.sum(order_rules.net_total()).filter(is_revenue), 0),
            func.min(Order.created_at),
            func.max(Order.created_at),
        )
        .where(Order.store_id.in_(stores), Order.contact_id.is_not(None), order_rules.placed(), *where)
        .group_by(Order.contact_id, Order.currency)
    )


BUYER_COLUMNS = (
    "contact_id",
    "account_id",
    "orders",
    "revenue_orders",
    "last_order_at",
    "currency",
    "revenue",
)


def _buyers(*where: Any) -> Any:
    """One row per contact from its totals: all orders, revenue orders, the newest, and the main
    currency's revenue."""
    t, other = ContactTotals, aliased(ContactTotals)
    summed = (
        select(
            t.contact_id,
            func.sum(t.orders).label("orders"),
            func.sum(t.revenue_orders).label("revenue_orders"),
            func.max(t.last_order_at).label("last"),
        )
        .where(*where)
        .group_by(t.contact_id)
        .subquery()
    )
    # The main currency: most orders, then alphabetical — no other row of the contact beats it.
    beaten = exists().where(
        other.contact_id == t.contact_id,
        or_(other.orders > t.orders, and_(other.orders == t.orders, other.currency < t.currency)),
    )
    return (
        select(
            t.contact_id,
            t.account_id,
            summed.c.orders,
            summed.c.revenue_orders,
            summed.c.last,
            t.currency,
            t.revenue,
        )
        .join(summed, summed.c.contact_id == t.contact_id)
        .where(*where, ~beaten)
    )


def refresh(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Recompute these contacts' rows (per currency and per buyer) from their orders."""
    ids = sorted(set(contact_ids))
    for part in chunks(ids):
        session.execute(delete(ContactTotals).where(among(session, ContactTotals.contact_id, part)))
        session.execute(
            insert(ContactTotals).from_select(
                COLUMNS, _totals(account_id, among(session, Order.contact_id, part))
            )
        )
        session.execute(delete(Buyer).where(among(session, Buyer.contact_id, part)))
        session.execute(
            insert(Buyer).from_select(BUYER_COLUMNS, _buyers(among(session, ContactTotals.contact_id, part)))
        )


def orders_changed(session: Session, account_id: int, contact_ids: Iterable[int]) -> None:
    """Bring everything kept per buyer up to date after these contacts' orders changed."""
    ids = {c for c in contact_ids if c is not None}
    if not ids:
        return
    refresh(session, account_id, ids)
    period_spend.refresh_spend(session, account_id, ids)


def rebuild(session: Session, account_id: int) -> int:
    """Recompute every buyer's rows of the account in one statement (after a bulk load); return rows."""
    session.execute(delete(ContactTotals).where(ContactTotals.account_id == account_id))
    session.execute(insert(ContactTotals).from_select(COLUMNS, _totals(account_id)))
    session.execute(delete(Buyer).where(Buyer.account_id == account_id))
    session.execute(insert(Buyer).from_select(BUYER_COLUMNS, _buyers(ContactTotals.account_id == account_id)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE contact_totals, buyers"))  # many new rows: plans need statistics
    return int(session.scalar(select(func.count()).where(ContactTotals.account_id == account_id)) or 0)
