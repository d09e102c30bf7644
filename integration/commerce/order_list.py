"""Lists of orders: a period's orders of an account's stores, newest first, a page at a time.

Guest orders — those that reach no contact (no customer of the store, no valid email) — are listed
like any other, with no contact. An order's status is the one the profile shows: `cancelled` for a
cancelled order, else its financial status as the platform gave it (`unknown` without one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from integration import keyset
from integration.commerce.orders import standing_of, status_is
from integration.store.models import Contact, Order, OrderLineItem, Store
from integration.store.types import iso

MAX_LIMIT = 500


def list_orders(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    store_id: int | None = None,
    status: str | None = None,
    guest: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Orders created in [start, end), newest first, guest orders included; and the next page's cursor."""
    scope: list[ColumnElement[bool]] = [
        Store.account_id == account_id,
        Order.created_at >= start,
        Order.created_at < end,
        Order.deleted_at.is_(None),
    ]
    if store_id is not None:
        scope.append(Order.store_id == store_id)
    if status is not None:
        scope.append(status_is(status))
    if guest is not None:
        scope.append(Order.contact_id.is_(None) if guest else Order.contact_id.is_not(None))
    if cursor is not None:
        at, last_id = keyset.decode(cursor)
        scope.append(or_(Order.created_at < at, and_(Order.created_at == at, Order.id < last_id)))
    limit = min(limit, MAX_LIMIT)
    rows = session.execute(
        select(Order, Store.time_zone, Contact.email)
        .join(Store, Store.id == Order.store_id)
        .outerjoin(Contact, Contact.id == Order.contact_id)
        .where(*scope)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    lines = dict(
        session.execute(
            select(OrderLineItem.order_id, func.count())
            .where(OrderLineItem.order_id.in_([o.id for o, *_ in page]))
            .group_by(OrderLineItem.order_id)
        ).all()
    )
    last = page[-1][0] if more and page else None
    return {
        "orders": [_order(o, ZoneInfo(zone), email, lines.get(o.id, 0)) for o, zone, email in page],
        "next_cursor": keyset.encode(last.created_at, last.id) if last else None,
    }


def _order(order: Order, zone: ZoneInfo, contact_email: str | None, lines: int) -> dict[str, Any]:
    return {
        "id": order.id,
        "external_id": order.external_id,
        "store_id": order.store_id,
        "name": order.name,
        "number": order.number,
        "contact": {"id": order.contact_id, "email": contact_email} if order.contact_id is not None else None,
        "email": order.email,
        "guest": order.contact_id is None,
        "created_at": order.created_at.isoformat(),
        "created_at_local": order.created_at.astimezone(zone).isoformat(),
        **standing_of(order),
        "currency": order.currency,
        "fulfillment_status": order.fulfillment_status,
        "cancelled_at": iso(order.cancelled_at),
        "line_items": lines,
    }
