"""Refunds: stored once per refund id, and summed onto their order's refunded amount.

A refund arrives on its own (`refunds/create`) or inside its order's payload; either way it is the
same row, keyed by the refund's id, so it counts once. It is kept by the order's external id, so
a refund that arrives before its order counts as soon as the order is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from integration.commerce import totals
from integration.contract import Outcome, RefundRecord
from integration.store.bulk import among, chunks, insert_for
from integration.store.models import Order, OrderRefund, Store
from integration.store.models.base import table_of
from integration.store.types import utcnow


def ingest_refunds(session: Session, store: Store, records: Sequence[RefundRecord]) -> Outcome:
    """Store a store's refunds (a refund already stored is unchanged) and update their orders."""
    written = store_refunds(session, store, records)
    contacts = refresh_refunded(session, store, {r.order_external_id for r in records})
    totals.orders_changed(session, store.account_id, contacts)
    # A refund changes what its buyer spent, as an order does.
    return Outcome(
        written=len(written),
        unchanged=len(records) - len(written),
        contact_ids=contacts,
        orders_changed=bool(contacts),
    )


def store_refunds(session: Session, store: Store, records: Sequence[RefundRecord]) -> set[str]:
    """Insert new refunds and correct stored ones whose amount differs; return the ids written.

    A Shopify refund never changes, so its redelivery writes nothing; a source that gives an
    order's refunded total (the REST API, CSV) restates it under one id per order.
    """
    unique = {r.external_id: r for r in records}
    if not unique:
        return set()
    table = table_of(OrderRefund)
    now = utcnow()
    rows = [
        {
            "store_id": store.id,
            "external_id": r.external_id,
            "order_external_id": r.order_external_id,
            "amount": r.amount,
            "currency": r.currency,
            "created_at": r.created_at,
            "ingested_at": now,
        }
        for r in unique.values()
    ]
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["store_id", "external_id"],
        set_={c: stmt.excluded[c] for c in ("amount", "currency", "created_at", "ingested_at")},
        where=or_(table.c.amount != stmt.excluded.amount, table.c.currency != stmt.excluded.currency),
    ).returning(table.c.external_id)
    return set(session.execute(stmt, rows).scalars())


def refresh_refunded(session: Session, store: Store, order_external_ids: Iterable[str]) -> set[int]:
    """Set these orders' refunded amount from their refunds; return the contacts of orders that changed.

    Only refunds in the order's currency are summed: an amount in another currency cannot be taken
    from the order's total.
    """
    orders = table_of(Order)
    refunds = table_of(OrderRefund)
    refunded = (
        select(func.coalesce(func.sum(refunds.c.amount), 0))
        .where(
            refunds.c.store_id == orders.c.store_id,
            refunds.c.order_external_id == orders.c.external_id,
            refunds.c.currency == orders.c.currency,
        )
        .scalar_subquery()
    )
    changed: set[int] = set()
    for ids in chunks(sorted(set(order_external_ids))):
        # Only orders with refunds can change (refunds are never removed): most batches have none,
        # and then an index probe is all this costs.
        part = list(
            session.scalars(
                select(refunds.c.order_external_id)
                .where(refunds.c.store_id == store.id, among(session, refunds.c.order_external_id, ids))
                .distinct()
            )
        )
        if not part:
            continue
        rows = session.execute(
            update(orders)
            .where(
                orders.c.store_id == store.id,
                among(session, orders.c.external_id, part),
                orders.c.total_refunded != refunded,
            )
            .values(total_refunded=refunded)
            .returning(orders.c.contact_id)
        )
        changed.update(contact_id for (contact_id,) in rows if contact_id is not None)
    return changed
