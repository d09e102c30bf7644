"""Which orders count (placed, revenue) and how much (net of refunds). Defined once, here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from integration.contract import OrderRecord
from integration.money import amount
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


CANCELLED = "cancelled"
UNKNOWN = "unknown"


def status_of(order: Order) -> str:
    """The order's status as the API shows it: cancelled, else its financial status, else unknown."""
    return CANCELLED if order.cancelled_at else (order.financial_status or UNKNOWN)


def status_is(status: str) -> ColumnElement[bool]:
    """SQL: the order's status (as `status_of` names it) is this one."""
    if status == CANCELLED:
        return Order.cancelled_at.is_not(None)
    financial = Order.financial_status.is_(None) if status == UNKNOWN else Order.financial_status == status
    return and_(Order.cancelled_at.is_(None), financial)


def standing_of(order: Order) -> dict[str, Any]:
    """What the API shows of an order's money and state: total, refunded, net and statuses."""
    return {
        "total_price": amount(order.total_price),
        "total_refunded": amount(order.total_refunded),
        "net_total": amount(order.total_price - order.total_refunded),
        "status": status_of(order),
        "financial_status": order.financial_status,
    }
