"""Which order decides a cart: by its checkout or cart token, else one to one by a shared product.

The account's windows bound both: an order counts for a cart until the abandonment (its last update
plus the delay) plus the recovery window. The rule that matched is stored on the checkout (`RULES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from integration.commerce import orders as order_rules
from integration.store.bulk import chunks
from integration.store.models import (
    Account,
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    Order,
    OrderLineItem,
    Store,
)

# Names of the recovery rules (not secrets), stored on a recovered checkout as `recovery_rule` and
# shown as such: the order's checkout token, its cart token, or a product of the cart (no token).
TOKEN = "checkout_token"  # noqa: S105
CART_TOKEN = "cart_token"  # noqa: S105
PRODUCT = "product"
RULES = (TOKEN, CART_TOKEN, PRODUCT)


@dataclass(frozen=True)
class Windows:
    delay: timedelta
    recovery: timedelta

    @classmethod
    def of(cls, account: Account) -> Windows:
        return cls(
            delay=timedelta(minutes=account.abandonment_delay_minutes),
            recovery=timedelta(days=account.recovery_window_days),
        )


@dataclass(frozen=True)
class Cart:
    id: int
    token: str
    cart_token: str | None
    contact_id: int | None
    reachable: bool
    created: datetime
    updated: datetime
    completed_at: datetime | None
    platform_completed_at: datetime | None
    state: CheckoutState
    abandoned_at: datetime | None
    recovered_at: datetime | None
    order_id: int | None
    rule: str | None

    @property
    def settled(self) -> tuple[Any, ...]:
        return (
            self.state,
            self.completed_at,
            self.abandoned_at,
            self.recovered_at,
            self.order_id,
            self.rule,
        )


def by_tokens(
    session: Session, store: Store, windows: Windows, carts_: dict[int, Cart]
) -> dict[int, tuple[int, datetime, str]]:
    """Each checkout's deciding order by token: (order, order time, rule)."""
    at = func.coalesce(Order.processed_at, Order.created_at)
    found: dict[tuple[str, str | None], list[tuple[datetime, int]]] = {}
    for column, rule, keys in (
        (Order.checkout_token, TOKEN, sorted({c.token for c in carts_.values()})),
        (Order.cart_token, CART_TOKEN, sorted({c.cart_token for c in carts_.values() if c.cart_token})),
    ):
        for part in chunks(keys):
            rows = session.execute(
                select(column, Order.id, at).where(
                    Order.store_id == store.id, column.in_(part), order_rules.placed()
                )
            )
            for token, order_id, order_at in rows:
                found.setdefault((rule, token), []).append((order_at, order_id))
    decided: dict[int, tuple[int, datetime, str]] = {}
    for cart in carts_.values():
        for rule, token in ((TOKEN, cart.token), (CART_TOKEN, cart.cart_token)):
            orders = sorted(o for o in found.get((rule, token), []) if o[0] >= cart.created)
            if not orders:
                continue
            order_at, order_id = orders[0]
            abandonment = cart.updated + windows.delay
            if not cart.reachable or order_at <= abandonment + windows.recovery:
                decided[cart.id] = (order_id, order_at, rule)
            break
    return decided


def by_products(
    session: Session,
    windows: Windows,
    carts_: dict[int, Cart],
    decided: dict[int, tuple[int, datetime, str]],
) -> dict[int, tuple[int, datetime, str]]:
    """Match token-less orders to the checkouts of their contact that no token decided."""
    open_ = [
        c.id
        for c in carts_.values()
        if c.id not in decided and c.contact_id is not None and not platform_completed(c)
    ]
    return {c: (o, at, PRODUCT) for c, (o, at) in assign(product_pairs(session, open_), windows).items()}


def platform_completed(cart: Cart) -> bool:
    """The platform reported the checkout completed (an order naming it still decides it first)."""
    return cart.platform_completed_at is not None


def product_pairs(session: Session, checkout_ids: Sequence[int]) -> list[tuple[int, int, datetime, datetime]]:
    """(checkout, order, order time, checkout update) pairs of one contact and store sharing a
    product, for token-less placed orders not before the checkout's last update.
    """
    checkout_item = aliased(CheckoutLineItem)
    order_item = aliased(OrderLineItem)
    shares_product = (
        select(checkout_item.id)
        .join(order_item, order_item.order_id == Order.id)
        .where(
            checkout_item.checkout_id == Checkout.id,
            or_(
                and_(
                    checkout_item.product_id.is_not(None), order_item.product_id == checkout_item.product_id
                ),
                and_(
                    checkout_item.product_id.is_(None),
                    checkout_item.sku.is_not(None),
                    order_item.sku == checkout_item.sku,
                ),
            ),
        )
        .exists()
    )
    ordered_at = func.coalesce(Order.processed_at, Order.created_at)
    query = (
        select(Checkout.id, Order.id, ordered_at, Checkout.updated_at)
        .join(Order, and_(Order.store_id == Checkout.store_id, Order.contact_id == Checkout.contact_id))
        .where(
            Checkout.deleted_at.is_(None),
            Order.checkout_token.is_(None),
            Order.cart_token.is_(None),
            order_rules.placed(),
            Order.created_at >= Checkout.updated_at,
            shares_product,
        )
    )
    pairs: list[tuple[int, int, datetime, datetime]] = []
    size = 5_000 if session.get_bind().dialect.name == "postgresql" else 500  # SQLite: bound-parameter limit
    for part in chunks(list(checkout_ids), size):
        pairs.extend((a, b, c, d) for a, b, c, d in session.execute(query.where(Checkout.id.in_(part))))
    return pairs


def assign(
    pairs: Iterable[tuple[int, int, datetime, datetime]], windows: Windows
) -> dict[int, tuple[int, datetime]]:
    """Match each order to at most one checkout and each checkout to its first order, within the windows.

    Orders are taken oldest first; each goes to the most recently updated checkout it matches, so
    two carts abandoned on two devices and one order make one recovery.
    """
    eligible = [
        (checkout_id, order_id, at, updated)
        for checkout_id, order_id, at, updated in pairs
        if at <= updated + windows.delay + windows.recovery
    ]
    eligible.sort(key=lambda p: (p[2], p[1], -p[3].timestamp(), p[0]))
    taken_orders: set[int] = set()
    matched: dict[int, tuple[int, datetime]] = {}
    for checkout_id, order_id, at, _ in eligible:
        if order_id in taken_orders or checkout_id in matched:
            continue
        matched[checkout_id] = (order_id, at)
        taken_orders.add(order_id)
    return matched
