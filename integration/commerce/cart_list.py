"""Lists of carts: the checkouts abandoned in a period, newest abandonment first, a page at a time.

The period and the scope are those of the cart statistics (`cart_stats.cart_stats`), so the list of a
period holds exactly the carts its statistics count. A recovered cart names the order that
recovered it and the rule that matched them (`cart_matching.RULES`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from integration import keyset
from integration.commerce.cart_stats import abandoned_in
from integration.money import amount
from integration.store.models import Checkout, CheckoutLineItem, CheckoutState, Contact, Order, Store
from integration.store.types import iso

MAX_LIMIT = 500


def list_carts(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    store_id: int | None = None,
    state: CheckoutState | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Carts abandoned in [start, end) (still abandoned, recovered, or both), and the next page's cursor."""
    scope = abandoned_in(account_id, start, end, store_id)
    if state is not None:
        scope.append(Checkout.state == state)
    if cursor is not None:
        at, last_id = keyset.decode(cursor)
        scope.append(
            or_(Checkout.abandoned_at < at, and_(Checkout.abandoned_at == at, Checkout.id < last_id))
        )
    rows = session.execute(
        select(Checkout, Store.time_zone, Contact.email, Order)
        .join(Store, Store.id == Checkout.store_id)
        .outerjoin(Contact, Contact.id == Checkout.contact_id)
        .outerjoin(
            Order,
            and_(Order.id == Checkout.recovered_by_order_id, Checkout.state == CheckoutState.RECOVERED),
        )
        .where(*scope)
        .order_by(Checkout.abandoned_at.desc(), Checkout.id.desc())
        .limit(min(limit, MAX_LIMIT) + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    items = {
        checkout_id: (lines, quantity)
        for checkout_id, lines, quantity in session.execute(
            select(CheckoutLineItem.checkout_id, func.count(), func.sum(CheckoutLineItem.quantity))
            .where(CheckoutLineItem.checkout_id.in_([c.id for c, *_ in page]))
            .group_by(CheckoutLineItem.checkout_id)
        )
    }
    last = page[-1][0] if more and page else None
    return {
        "carts": [
            _cart(cart, ZoneInfo(zone), email, order, items.get(cart.id, (0, 0)))
            for cart, zone, email, order in page
        ],
        "next_cursor": keyset.encode(last.abandoned_at, last.id) if last and last.abandoned_at else None,
    }


def _cart(
    cart: Checkout, zone: ZoneInfo, contact_email: str | None, order: Order | None, items: tuple[int, int]
) -> dict[str, Any]:
    return {
        "id": cart.id,
        "token": cart.token,
        "store_id": cart.store_id,
        "contact": {"id": cart.contact_id, "email": contact_email} if cart.contact_id is not None else None,
        "email": cart.email,
        "state": cart.state.value,
        "created_at": cart.created_at.isoformat(),
        "updated_at": cart.updated_at.isoformat(),
        "abandoned_at": iso(cart.abandoned_at),
        "abandoned_at_local": iso(cart.abandoned_at.astimezone(zone) if cart.abandoned_at else None),
        "recovered_at": iso(cart.recovered_at),
        "total_price": amount(cart.total_price),
        "currency": cart.currency,
        "items_count": items[0],
        "quantity": int(items[1]),
        "recovery_url": cart.recovery_url,
        "recovered_by": {
            "order_id": order.id,
            "external_id": order.external_id,
            "name": order.name,
            "created_at": order.created_at.isoformat(),
            "total_price": amount(order.total_price),
            "currency": order.currency,
        }
        if order is not None
        else None,
        "recovery_rule": cart.recovery_rule if cart.state == CheckoutState.RECOVERED else None,
    }
