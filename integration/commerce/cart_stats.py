"""Cart statistics: the checkouts abandoned in a period, how many were recovered, the revenue recovered."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from integration.commerce import orders as order_rules
from integration.money import amount
from integration.store.models import Checkout, CheckoutState, Order, Store


def abandoned_in(
    account_id: int, start: datetime, end: datetime, store_id: int | None = None
) -> list[ColumnElement[bool]]:
    """SQL: the account's checkouts (of one store, if given) abandoned in [start, end); join their store."""
    scope = [
        Store.account_id == account_id,
        Checkout.abandoned_at >= start,
        Checkout.abandoned_at < end,
        Checkout.deleted_at.is_(None),
    ]
    if store_id is not None:
        scope.append(Checkout.store_id == store_id)
    return scope


def cart_stats(
    session: Session, account_id: int, start: datetime, end: datetime, store_id: int | None = None
) -> dict[str, Any]:
    """Checkouts abandoned in [start, end): how many, how many recovered since, and the revenue recovered."""
    scope = abandoned_in(account_id, start, end, store_id)
    counts = dict(
        session.execute(
            select(Checkout.state, func.count())
            .join(Store, Store.id == Checkout.store_id)
            .where(*scope)
            .group_by(Checkout.state)
        ).all()
    )
    abandoned = sum(counts.values())
    recovered = counts.get(CheckoutState.RECOVERED, 0)
    recovering = (
        select(Checkout.recovered_by_order_id)
        .join(Store, Store.id == Checkout.store_id)
        .where(*scope, Checkout.state == CheckoutState.RECOVERED)
        .distinct()
        .scalar_subquery()
    )
    revenue = session.execute(
        select(Order.currency, func.sum(order_rules.net_total()), func.count())
        .where(Order.id.in_(recovering), order_rules.revenue())
        .group_by(Order.currency)
        .order_by(Order.currency)
    ).all()
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "store_id": store_id,
        "abandoned": abandoned,
        "recovered": recovered,
        "recovery_rate": float(round(Decimal(100 * recovered) / abandoned, 2)) if abandoned else None,
        "recovered_revenue": [
            {"currency": currency, "amount": amount(total), "orders": n} for currency, total, n in revenue
        ],
    }
