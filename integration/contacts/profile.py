"""The customer profile: the contact, its earlier addresses, orders, carts and campaigns, at a glance.

Orders come newest first, ten by default, with a cursor for more; each carries a *recovered cart*
badge when it recovered an abandoned checkout, with that cart and the rule that matched it. Carts are
the open abandoned ones and the past ones an order recovered (with that order and the rule). Times
are UTC with the store's local time beside.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from integration import keyset
from integration.analytics import rfm
from integration.campaigns import results as campaign_results
from integration.campaigns import sends as campaigns
from integration.commerce.orders import standing_of
from integration.contacts.lists import contact_detail
from integration.money import amount
from integration.store.models import (
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    ContactEmail,
    ContactTotals,
    Order,
    OrderLineItem,
    Store,
)
from integration.store.types import iso, utcnow

DEFAULT_ORDERS = 10
CENT = Decimal("0.01")
MAX_ORDERS_PAGE = 1000


def profile(
    session: Session,
    account_id: int,
    contact_id: int,
    *,
    orders_limit: int | None = DEFAULT_ORDERS,
    orders_cursor: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The contact's profile; None when it is not the account's. `orders_limit=None` lists every order.

    A cursor of orders this list did not give out raises `keyset.BadCursor`.
    """
    detail = contact_detail(session, account_id, contact_id)
    if detail is None:
        return None
    zones = {
        s.id: ZoneInfo(s.time_zone)
        for s in session.scalars(select(Store).where(Store.account_id == account_id))
    }
    page, next_cursor, count = _orders(session, contact_id, zones, orders_limit, orders_cursor)
    now = now or utcnow()
    cap = campaigns.frequency_cap(session, account_id, contact_id, now)
    return {
        **detail,
        "earlier_emails": earlier_emails(session, contact_id),
        "orders": page,
        "orders_count": count,
        "orders_next_cursor": next_cursor,
        "rfm": rfm.contact_rfm(session, contact_id, now),
        **_carts(session, contact_id, zones),
        "campaigns": campaign_results.contact_sends(session, account_id, contact_id),
        "spending": spending(session, contact_id),
        "last_contacted_at": iso(cap.last_contacted_at),
        "recently_contacted": cap.recently_contacted,
        "frequency_cap_days": cap.days,
    }


def spending(session: Session, contact_id: int) -> list[dict[str, Any]]:
    """The contact's standing orders, revenue and average order value in each currency it bought in."""
    rows = session.scalars(
        select(ContactTotals).where(ContactTotals.contact_id == contact_id).order_by(ContactTotals.currency)
    )
    return [
        {
            "currency": t.currency,
            "orders": t.orders,
            "revenue_orders": t.revenue_orders,
            "spent": amount(t.revenue),
            # As the Contacts page counts it: revenue over the orders that earned it.
            "aov": amount((t.revenue / t.revenue_orders).quantize(CENT, ROUND_HALF_UP))
            if t.revenue_orders
            else None,
        }
        for t in rows
    ]


def earlier_emails(session: Session, contact_id: int) -> list[dict[str, Any]]:
    """The addresses the contact had before its current one, the most recently replaced first."""
    rows = session.scalars(
        select(ContactEmail)
        .where(ContactEmail.contact_id == contact_id)
        .order_by(ContactEmail.replaced_at.desc(), ContactEmail.id.desc())
    )
    return [
        {"email": r.email, "first_seen_at": iso(r.first_seen_at), "replaced_at": iso(r.replaced_at)}
        for r in rows
    ]


def _orders(
    session: Session, contact_id: int, zones: dict[int, ZoneInfo], limit: int | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, int]:
    base = [Order.contact_id == contact_id, Order.deleted_at.is_(None)]
    count = session.scalar(select(func.count()).select_from(Order).where(*base)) or 0
    query = select(Order).where(*base)
    if cursor:
        at, order_id = keyset.decode(cursor)
        query = query.where(or_(Order.created_at < at, and_(Order.created_at == at, Order.id < order_id)))
    query = query.order_by(Order.created_at.desc(), Order.id.desc())
    if limit is not None:
        query = query.limit(limit + 1)
    rows = list(session.scalars(query))
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    recovered = {
        c.recovered_by_order_id: c
        for c in session.scalars(
            select(Checkout).where(
                Checkout.recovered_by_order_id.in_([o.id for o in rows]),
                Checkout.state == CheckoutState.RECOVERED,
            )
        )
    }
    page = [
        {
            "id": o.id,
            "store_id": o.store_id,
            "external_id": o.external_id,
            "name": o.name,
            "number": o.number,
            "created_at": o.created_at.isoformat(),
            "created_at_local": o.created_at.astimezone(zones.get(o.store_id, ZoneInfo("UTC"))).isoformat(),
            **standing_of(o),
            "currency": o.currency,
            "fulfillment_status": o.fulfillment_status,
            "badges": ["recovered_cart"] if o.id in recovered else [],
            "recovered_cart": _recovered_cart(recovered[o.id], zones) if o.id in recovered else None,
        }
        for o in rows
    ]
    next_cursor = keyset.encode(rows[-1].created_at, rows[-1].id) if more and rows else None
    return page, next_cursor, count


def _recovered_cart(cart: Checkout, zones: dict[int, ZoneInfo]) -> dict[str, Any]:
    """The abandoned checkout an order recovered, and the rule that linked them."""
    zone = zones.get(cart.store_id, ZoneInfo("UTC"))
    return {
        "token": cart.token,
        "abandoned_at": iso(cart.abandoned_at),
        "abandoned_at_local": cart.abandoned_at.astimezone(zone).isoformat() if cart.abandoned_at else None,
        "recovered_at": iso(cart.recovered_at),
        "total_price": amount(cart.total_price),
        "currency": cart.currency,
        "recovery_rule": cart.recovery_rule,
    }


def _carts(session: Session, contact_id: int, zones: dict[int, ZoneInfo]) -> dict[str, list[dict[str, Any]]]:
    """The contact's open abandoned carts and its past ones an order recovered, newest first."""
    carts = list(
        session.scalars(
            select(Checkout)
            .where(
                Checkout.contact_id == contact_id,
                Checkout.state.in_((CheckoutState.ABANDONED, CheckoutState.RECOVERED)),
                Checkout.deleted_at.is_(None),
            )
            .options(selectinload(Checkout.line_items))
            .order_by(Checkout.abandoned_at.desc(), Checkout.id.desc())
        )
    )
    order_ids = [c.recovered_by_order_id for c in carts if c.recovered_by_order_id]
    recovering = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(order_ids)))}
    open_carts, past_carts = [], []
    for c in carts:
        zone = zones.get(c.store_id, ZoneInfo("UTC"))
        cart = {
            "token": c.token,
            "store_id": c.store_id,
            "abandoned_at": iso(c.abandoned_at),
            "abandoned_at_local": c.abandoned_at.astimezone(zone).isoformat() if c.abandoned_at else None,
            "total_price": amount(c.total_price),
            "currency": c.currency,
            "recovery_url": c.recovery_url,
            "items": [_line(i) for i in c.line_items],
        }
        if c.state == CheckoutState.ABANDONED:
            open_carts.append({**cart, "badges": ["abandoned_cart"]})
            continue
        order = recovering.get(c.recovered_by_order_id or 0)
        past_carts.append(
            {
                **cart,
                "badges": ["recovered_cart"],
                "recovered_at": iso(c.recovered_at),
                "recovered_at_local": c.recovered_at.astimezone(zone).isoformat() if c.recovered_at else None,
                "recovery_rule": c.recovery_rule,
                "recovered_by": {"id": order.id, "name": order.name, "number": order.number}
                if order is not None
                else None,
            }
        )
    return {"abandoned_carts": open_carts, "past_carts": past_carts}


def order_detail(session: Session, account_id: int, contact_id: int, order_id: int) -> dict[str, Any] | None:
    """One order of the contact with its line items, and how they add up to the total."""
    return order_details(session, account_id, contact_id, [order_id]).get(order_id)


def order_details(
    session: Session, account_id: int, contact_id: int, order_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Orders of the contact by id, each with its line items and how they add up (three queries in all)."""
    if not order_ids:
        return {}
    zones = {
        s.id: ZoneInfo(s.time_zone)
        for s in session.scalars(select(Store).where(Store.account_id == account_id))
    }
    orders = session.scalars(
        select(Order).where(
            Order.id.in_(order_ids),
            Order.contact_id == contact_id,
            Order.deleted_at.is_(None),
            Order.store_id.in_(list(zones)),
        )
    ).all()
    items: dict[int, list[OrderLineItem]] = {o.id: [] for o in orders}
    for item in session.scalars(
        select(OrderLineItem).where(OrderLineItem.order_id.in_(list(items))).order_by(OrderLineItem.id)
    ):
        items[item.order_id].append(item)
    return {o.id: _detail(o, items[o.id], zones[o.store_id]) for o in orders}


def _detail(order: Order, items: list[OrderLineItem], zone: ZoneInfo) -> dict[str, Any]:
    lines = [
        {
            **_line(i),
            "discount": amount(i.total_discount) if i.total_discount else None,
            # What the line comes to after its discount: line_total − discount.
            "discounted_total": amount(i.unit_price * i.quantity - (i.total_discount or 0)),
        }
        for i in items
    ]
    items_total = sum((i.unit_price * i.quantity for i in items), Decimal(0))
    line_discounts = sum((i.total_discount or Decimal(0) for i in items), Decimal(0))
    parts = {
        "items_total": items_total,
        "total_discounts": order.total_discounts or Decimal(0),
        "total_shipping": order.total_shipping or Decimal(0),
        "total_tax": order.total_tax or Decimal(0),
    }
    computed = parts["items_total"] - parts["total_discounts"] + parts["total_shipping"] + parts["total_tax"]
    return {
        "id": order.id,
        "store_id": order.store_id,
        "external_id": order.external_id,
        "name": order.name,
        "created_at": order.created_at.isoformat(),
        "created_at_local": order.created_at.astimezone(zone).isoformat(),
        "currency": order.currency,
        "line_items": lines,
        **{k: amount(v) for k, v in parts.items()},
        **standing_of(order),
        "line_discounts": amount(line_discounts),
        # Whether items − discounts + shipping + tax is the total (a source may leave parts out).
        "adds_up": computed == order.total_price,
        # Whether the lines' discounts make up the order's discounts (a discount on shipping does not
        # fall on a line, and a source may give only the order's discount).
        "discounts_add_up": line_discounts == parts["total_discounts"],
    }


def _line(item: OrderLineItem | CheckoutLineItem) -> dict[str, Any]:
    """A line of an order or a cart: what, how many, at what price, and what it comes to."""
    return {
        "title": item.title,
        "variant_title": item.variant_title,
        "sku": item.sku,
        "quantity": item.quantity,
        "unit_price": amount(item.unit_price),
        "line_total": amount(item.unit_price * item.quantity),
    }
