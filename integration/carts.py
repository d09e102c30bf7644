"""Abandoned and recovered carts.

A checkout with an email or a known customer that nobody completes within the account's
abandonment delay (after its last update) becomes *abandoned*. It becomes *recovered* when an
order completes it: by token (the order's `checkout_token`, or its `cart_token` matching the
checkout's), or — for orders that carry no token — when the same contact places an order in the
same store, within the recovery window after the abandonment, containing at least one of the
checkout's products (rule `product`). One order recovers at most one checkout, so two carts
abandoned on two devices and one order make one recovery.

Which of the two an order does follows the timeline, whichever arrives first: an order placed by
the abandonment time (the checkout's last update plus the delay) *completes* the checkout, which
is then never abandoned; one placed after it and within the recovery window recovers it; a later
one, or one older than the checkout itself, changes nothing (the cart stays abandoned).

Each transition is also an event on the contact (`cart_abandoned`, `cart_recovered`), not counted
as engagement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from integration import orders as order_rules
from integration.ingest.common import chunks, insert_for
from integration.money import amount
from integration.records import CheckoutRecord
from integration.store.models import (
    Account,
    Checkout,
    CheckoutLineItem,
    CheckoutState,
    InteractionEvent,
    InteractionType,
    Order,
    OrderLineItem,
    Store,
    table_of,
)
from integration.store.types import JSONDocument, UTCDateTime, utcnow

# Names of the recovery rules (not secrets), stored on a recovered checkout as `recovery_rule` and
# shown as such: the order's checkout token, its cart token, or a product of the cart (no token).
TOKEN = "checkout_token"  # noqa: S105
CART_TOKEN = "cart_token"  # noqa: S105
PRODUCT = "product"
RULES = (TOKEN, CART_TOKEN, PRODUCT)
EVENT_SOURCE = "carts"


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


def mark_abandoned(session: Session, now: datetime | None = None) -> int:
    """Move open checkouts past their account's delay to abandoned (or completed); return how many moved.

    Only checkouts with an email or a customer count (a guest with neither cannot be reached). The
    abandonment time is the last update plus the delay. Reads only open checkouts updated before
    the cut-off (an index on store, state and update time), so the work follows what changed.
    """
    now = now or utcnow()
    moved = 0
    for account in session.scalars(select(Account)):
        windows = Windows.of(account)
        stores = select(Store.id).where(Store.account_id == account.id).scalar_subquery()
        candidates = session.execute(
            select(Checkout.id, Checkout.updated_at).where(
                Checkout.store_id.in_(stores),
                Checkout.state == CheckoutState.OPEN,
                Checkout.completed_at.is_(None),
                Checkout.deleted_at.is_(None),
                Checkout.updated_at < now - windows.delay,
                or_(Checkout.contact_id.is_not(None), Checkout.email.is_not(None)),
            )
        ).all()
        if not candidates:
            continue
        # A token-less order of the same contact with one of the products completed it in time.
        matched = _assign(_product_pairs(session, checkout_ids=[c for c, _ in candidates]), windows)
        updated_at = dict(candidates)
        completed = {c: (o, at) for c, (o, at) in matched.items() if at <= updated_at[c] + windows.delay}
        for checkout_id, (_, at) in completed.items():
            session.execute(
                update(Checkout)
                .where(Checkout.id == checkout_id, Checkout.state == CheckoutState.OPEN)
                .values(state=CheckoutState.COMPLETED, completed_at=at)
            )
        abandoned = [(c, updated + windows.delay) for c, updated in candidates if c not in completed]
        _mark(session, abandoned, windows.delay)
        _log(session, account.id, [c for c, _ in abandoned], InteractionType.CART_ABANDONED)
        # An order that arrived before the abandonment was noticed may already recover it.
        late = {c: m for c, m in matched.items() if c not in completed}
        _recover(session, account.id, windows, late, PRODUCT)
        moved += len(candidates)
    return moved


def _mark(session: Session, abandoned: list[tuple[int, datetime]], delay: timedelta) -> None:
    """Set checkouts abandoned at their last update plus the delay."""
    if not abandoned:
        return
    table = table_of(Checkout)
    if session.get_bind().dialect.name == "postgresql":
        for part in chunks([c for c, _ in abandoned], 10_000):
            session.execute(
                update(table)
                .where(table.c.id.in_(part), table.c.state == CheckoutState.OPEN.value)
                .values(
                    state=CheckoutState.ABANDONED.value,
                    abandoned_at=table.c.updated_at + bindparam("_delay", delay, type_=Interval()),
                )
            )
        return
    # SQLite has no interval arithmetic on these columns: one statement, many parameter sets.
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"), table.c.state == CheckoutState.OPEN.value)
        .values(state=CheckoutState.ABANDONED.value, abandoned_at=bindparam("_at")),
        [{"_id": c, "_at": at} for c, at in abandoned],
    )


def recover_by_orders(session: Session, store: Store, order_ids: Sequence[int]) -> int:
    """Complete or recover the checkouts that newly stored orders came from; return how many changed.

    By token first (checkout token, then cart token); then, for orders without tokens, by the
    product rule within the account's windows.
    """
    if not order_ids:
        return 0
    account = session.get(Account, store.account_id)
    assert account is not None  # noqa: S101 - a store always has its account
    windows = Windows.of(account)
    changed = 0
    for part in chunks(list(order_ids)):
        rows = session.execute(
            select(
                Order.id, Order.checkout_token, Order.cart_token, Order.processed_at, Order.created_at
            ).where(Order.id.in_(part), order_rules.placed())
        ).all()
        by_checkout = {
            r.checkout_token: (r.id, r.processed_at or r.created_at) for r in rows if r.checkout_token
        }
        by_cart = {r.cart_token: (r.id, r.processed_at or r.created_at) for r in rows if r.cart_token}
        changed += close_by_tokens(session, store, by_checkout, TOKEN)
        changed += close_by_tokens(session, store, by_cart, CART_TOKEN)
        tokenless = [r.id for r in rows if not r.checkout_token and not r.cart_token]
        if tokenless:
            matched = _assign(_product_pairs(session, order_ids=tokenless), windows)
            changed += _recover(session, store.account_id, windows, matched, PRODUCT)
    return changed


def close_by_tokens(
    session: Session, store: Store, orders_by_token: dict[str, tuple[int, datetime]], rule: str
) -> int:
    """Checkouts matching an order's token: abandoned ones are recovered, open ones completed."""
    if not orders_by_token:
        return 0
    column = Checkout.token if rule == TOKEN else Checkout.cart_token
    recovered: dict[int, tuple[int, datetime]] = {}
    for part in chunks(list(orders_by_token)):
        rows = session.execute(
            select(Checkout.id, column, Checkout.state).where(
                Checkout.store_id == store.id,
                column.in_(part),
                Checkout.state.in_((CheckoutState.OPEN, CheckoutState.ABANDONED)),
                Checkout.deleted_at.is_(None),
            )
        ).all()
        for checkout_id, token, _ in rows:
            if token is not None:
                recovered[checkout_id] = orders_by_token[token]
    account = session.get(Account, store.account_id)
    assert account is not None  # noqa: S101 - a store always has its account
    return _recover(session, store.account_id, Windows.of(account), recovered, rule)


def checkout_identities(
    session: Session, store: Store, records: Sequence[CheckoutRecord]
) -> list[CheckoutRecord]:
    """Give the records of one checkout, named by different tokens, the one identity of its stored row.

    A record whose token is its cart token names the checkout only by its cart (a platform that
    gives no checkout token, e.g. Shopify's abandoned checkouts read in bulk). It takes the token of
    a stored checkout of that cart (the most recently updated, if several). A record that has a token
    of its own takes over a stored checkout known so far only by its cart, which is renamed to that
    token. A stored checkout that did not know its cart learns it from any record naming it (an older
    version too), and a record that does not tell its cart keeps the one stored. Either arrival order
    thus ends in one checkout, found by its token and by its cart token.
    """
    by_cart = {r.cart_token for r in records if r.cart_token and r.token == r.cart_token}
    tokens_of: dict[str, str] = {}  # cart token -> the stored checkout's own token
    for part in chunks(sorted(by_cart)):
        rows = session.execute(
            select(Checkout.cart_token, Checkout.token)
            .where(
                Checkout.store_id == store.id,
                Checkout.cart_token.in_(part),
                Checkout.token != Checkout.cart_token,
            )
            .order_by(Checkout.updated_at, Checkout.id)
        )
        tokens_of.update({cart: token for cart, token in rows if cart})  # the newest comes last
    named = {r.cart_token: r.token for r in records if r.cart_token and r.token != r.cart_token}
    _take_over_cart_checkouts(session, store, named)
    if named:
        table = table_of(Checkout)
        session.execute(
            update(table)
            .where(
                table.c.store_id == store.id,
                table.c.token == bindparam("_token"),
                table.c.cart_token.is_(None),
            )
            .values(cart_token=bindparam("_cart")),
            [{"_token": token, "_cart": cart} for cart, token in named.items()],
        )
    carts_of: dict[str, str] = {}
    for part in chunks(sorted({r.token for r in records if not r.cart_token})):
        carts_of.update(
            (token, cart)
            for token, cart in session.execute(
                select(Checkout.token, Checkout.cart_token).where(
                    Checkout.store_id == store.id, Checkout.token.in_(part), Checkout.cart_token.is_not(None)
                )
            )
            if cart
        )
    result = []
    for r in records:
        if r.cart_token and r.token == r.cart_token and r.cart_token in tokens_of:
            r = replace(r, token=tokens_of[r.cart_token])
        elif not r.cart_token and r.token in carts_of:
            r = replace(r, cart_token=carts_of[r.token])
        result.append(r)
    return result


def _take_over_cart_checkouts(session: Session, store: Store, named: dict[str, str]) -> None:
    """Rename stored checkouts known only by their cart token to the token now known for them."""
    table = table_of(Checkout)
    for part in chunks(sorted(named)):
        carts_only = session.scalars(
            select(Checkout.cart_token).where(
                Checkout.store_id == store.id,
                Checkout.cart_token.in_(part),
                Checkout.token == Checkout.cart_token,
            )
        ).all()
        wanted = {cart: named[cart] for cart in carts_only if cart}
        # A token already stored keeps its row (two deliveries racing): the cart's row is left as it is.
        taken = set(
            session.scalars(
                select(Checkout.token).where(
                    Checkout.store_id == store.id, Checkout.token.in_(list(wanted.values()))
                )
            )
        )
        renames = [{"_cart": cart, "_token": token} for cart, token in wanted.items() if token not in taken]
        if renames:
            session.execute(
                update(table)
                .where(
                    table.c.store_id == store.id,
                    table.c.token == bindparam("_cart"),
                    table.c.cart_token == bindparam("_cart"),
                )
                .values(token=bindparam("_token")),
                renames,
            )


def _recover(
    session: Session, account_id: int, windows: Windows, matches: dict[int, tuple[int, datetime]], rule: str
) -> int:
    """Settle checkouts with the orders that completed them, by the timeline; return how many changed.

    An order older than the checkout did not come from it. An order placed by the checkout's
    abandonment time (its last update plus the delay) completed it: an abandoned checkout whose
    order arrived late was never abandoned. An order placed after the abandonment and within the
    recovery window recovers it (an open checkout is abandoned first, as the scheduler would have
    done). A later order changes nothing. So the outcome does not depend on which came first.
    """
    completed: dict[int, datetime] = {}
    unabandoned: list[int] = []
    to_abandon: list[tuple[int, datetime]] = []
    recovered: dict[int, tuple[int, datetime]] = {}
    for part in chunks(list(matches)):
        rows = session.execute(
            select(
                Checkout.id,
                Checkout.state,
                Checkout.created_at,
                Checkout.updated_at,
                Checkout.abandoned_at,
                Checkout.contact_id,
                Checkout.email,
            ).where(Checkout.id.in_(part), Checkout.state.in_((CheckoutState.OPEN, CheckoutState.ABANDONED)))
        ).all()
        for checkout_id, state, created, updated, abandoned_at, contact_id, email in rows:
            order_id, at = matches[checkout_id]
            if at < created:
                continue
            reachable = contact_id is not None or email is not None
            abandoned = abandoned_at or updated + windows.delay  # set on every abandoned checkout
            if at <= abandoned or not reachable:
                completed[checkout_id] = at
                if state == CheckoutState.ABANDONED:
                    unabandoned.append(checkout_id)
            elif at <= abandoned + windows.recovery:
                recovered[checkout_id] = (order_id, at)
                if state == CheckoutState.OPEN:
                    to_abandon.append((checkout_id, abandoned))
    _mark(session, to_abandon, windows.delay)
    _log(session, account_id, [c for c, _ in to_abandon], InteractionType.CART_ABANDONED)
    _unlog(session, account_id, unabandoned, InteractionType.CART_ABANDONED)
    for checkout_id, at in completed.items():
        session.execute(
            update(Checkout)
            .where(Checkout.id == checkout_id)
            .values(state=CheckoutState.COMPLETED, completed_at=at, abandoned_at=None)
        )
    for checkout_id, (order_id, at) in recovered.items():
        session.execute(
            update(Checkout)
            .where(Checkout.id == checkout_id)
            .values(
                state=CheckoutState.RECOVERED,
                recovered_at=at,
                recovered_by_order_id=order_id,
                recovery_rule=rule,
            )
        )
    _log(session, account_id, list(recovered), InteractionType.CART_RECOVERED)
    return len(completed) + len(recovered)


def _product_pairs(
    session: Session, *, checkout_ids: Sequence[int] = (), order_ids: Sequence[int] = ()
) -> list[tuple[int, int, datetime, datetime, datetime | None]]:
    """(checkout, order, order time, checkout update, abandonment) pairs of one contact and store
    sharing a product, for token-less placed orders not after the checkout's last update.
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
    already = aliased(Checkout)
    ordered_at = func.coalesce(Order.processed_at, Order.created_at)
    query = (
        select(Checkout.id, Order.id, ordered_at, Checkout.updated_at, Checkout.abandoned_at)
        .join(Order, and_(Order.store_id == Checkout.store_id, Order.contact_id == Checkout.contact_id))
        .where(
            Checkout.state.in_((CheckoutState.OPEN, CheckoutState.ABANDONED)),
            Checkout.deleted_at.is_(None),
            Order.checkout_token.is_(None),
            Order.cart_token.is_(None),
            order_rules.placed(),
            Order.created_at >= Checkout.updated_at,
            shares_product,
            ~select(already.id).where(already.recovered_by_order_id == Order.id).exists(),
        )
    )
    pairs: list[tuple[int, int, datetime, datetime, datetime | None]] = []
    size = 5_000 if session.get_bind().dialect.name == "postgresql" else 500  # SQLite: bound-parameter limit
    for ids, column in ((checkout_ids, Checkout.id), (order_ids, Order.id)):
        for part in chunks(list(ids), size):
            pairs.extend((a, b, c, d, e) for a, b, c, d, e in session.execute(query.where(column.in_(part))))
    return pairs


def _assign(
    pairs: Iterable[tuple[int, int, datetime, datetime, datetime | None]], windows: Windows
) -> dict[int, tuple[int, datetime]]:
    """Match each order to at most one checkout and each checkout to its first order, within the windows.

    Orders are taken oldest first; each recovers the most recently updated checkout it matches.
    """
    eligible = [
        (checkout_id, order_id, at, updated)
        for checkout_id, order_id, at, updated, abandoned_at in pairs
        if at <= (abandoned_at or updated + windows.delay) + windows.recovery
    ]
    eligible.sort(key=lambda p: (p[2], -p[3].timestamp()))
    taken_orders: set[int] = set()
    matched: dict[int, tuple[int, datetime]] = {}
    for checkout_id, order_id, at, _ in eligible:
        if order_id in taken_orders or checkout_id in matched:
            continue
        matched[checkout_id] = (order_id, at)
        taken_orders.add(order_id)
    return matched


def _log(session: Session, account_id: int, checkout_ids: Sequence[int], kind: InteractionType) -> None:
    """Record cart transitions as (uncounted) events on their contacts, once each, set-based."""
    at = Checkout.abandoned_at if kind == InteractionType.CART_ABANDONED else Checkout.recovered_at
    events = table_of(InteractionEvent)
    for part in chunks(list(checkout_ids), 10_000):
        rows = select(
            literal(account_id, BigInteger()),
            Checkout.contact_id,
            Checkout.store_id,
            literal(kind.value, String()),
            at,
            literal(False),  # noqa: FBT003 - a SQL literal, not a flag
            literal(EVENT_SOURCE, String()),
            cast(Checkout.id, String) + literal(f":{kind.value}", String()),
            literal({}, JSONDocument),
            literal(utcnow(), UTCDateTime()),
        ).where(Checkout.id.in_(part), Checkout.contact_id.is_not(None), at.is_not(None))
        session.execute(
            insert_for(session, events)
            .from_select(
                [
                    "account_id",
                    "contact_id",
                    "store_id",
                    "type",
                    "occurred_at",
                    "counted",
                    "source",
                    "source_event_id",
                    "attributes",
                    "ingested_at",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["account_id", "source", "source_event_id"])
        )


def _unlog(session: Session, account_id: int, checkout_ids: Sequence[int], kind: InteractionType) -> None:
    """Withdraw the cart events of checkouts whose transition turned out not to have happened."""
    for part in chunks([f"{c}:{kind.value}" for c in checkout_ids], 10_000):
        session.execute(
            delete(InteractionEvent).where(
                InteractionEvent.account_id == account_id,
                InteractionEvent.source == EVENT_SOURCE,
                InteractionEvent.source_event_id.in_(part),
            )
        )


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
