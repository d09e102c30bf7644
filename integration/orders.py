"""Which orders count (placed, revenue) and how much (net of refunds). Defined once, here."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, and_, or_

from integration.records import OrderRecord
from integration.store.models import NON_REVENUE_FINANCIAL_STATUSES, NOT_PLACED_FINANCIAL_STATUSES, Order


def is_placed(record: OrderRecord) -> bool:
    """Whether an incoming order counts as its contact's interaction (not cancelled, not voided)."""
    return (
        record.cancelled_at is None and (record.financial_status or "") not in NOT_PLACED_FINANCIAL_STATUSES
    )


def placed() -> ColumnElement[bool]:
    """SQL: the order was placed and stands (not cancelled, voided or deleted)."""
    return _standing(NOT_PLACED_FINANCIAL_STATUSES)


def revenue() -> ColumnElement[bool]:
    """SQL: the order's total is revenue (placed, and not refunded either)."""
    return _standing(NON_REVENUE_FINANCIAL_STATUSES)


def net_total() -> ColumnElement[Decimal]:
    """SQL: what an order earned: its total less the refunds recorded for it, in its currency."""
    return Order.total_price - Order.total_refunded


def _standing(excluded: tuple[str, ...]) -> ColumnElement[bool]:
    return and_(
        Order.cancelled_at.is_(None),
        Order.deleted_at.is_(None),
        or_(Order.financial_status.is_(None), Order.financial_status.not_in(excluded)),
    )
