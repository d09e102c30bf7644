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
one, or one older than the checkout itself, changes nothing (the cart stays abandoned). Every
delivery of a checkout or an order settles its carts again from the stored times (`settle`), so
the same deliveries in any order, with the scheduler's tick at any moments, give the same carts:
a later update moves the abandonment, a later-processed earlier order turns a recovery into a
completion, and the platform's own "completed" version is not taken for the buyer's activity.

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

from integration.commerce import orders as order_rules
from integration.money import amount
from integration.records import CheckoutRecord
from integration.store.bulk import chunks, insert_for
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
    """Move open checkouts past their account's delay to abandoned; return how many moved.

    Only checkouts with an email or a customer count (a guest with neither cannot be reached). The
    abandonment time is the last update plus the delay. Reads only open checkouts updated before
    the cut-off (an index on store, state and update time), so the work follows what changed. An
    order stored with its checkout has settled it already (see `settle`), whichever arrived first.
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
        # Orders stored by other means than ingest (a contact merge, a bulk load) settle here first.
        matched = {c for c, *_ in _product_pairs(session, [c for c, _ in candidates])}
        store_ids: set[int] = set()
        for part in chunks(sorted(matched)):
            store_ids.update(session.scalars(select(Checkout.store_id).where(Checkout.id.in_(part))))
        for store_id in sorted(store_ids):
            store = session.get(Store, store_id)
            assert store is not None  # noqa: S101 - a checkout's store exists
            settle(session, store, matched)
        abandoned = [(c, updated + windows.delay) for c, updated in candidates]
        _mark(session, abandoned, windows.delay)
        _log(session, account.id, [c for c, _ in abandoned], InteractionType.CART_ABANDONED)
        moved += len(candidates)
    return moved


def _mark(session: Session, abandoned: list[tuple[int, datetime]], delay: timedelta) -> None:
    """Set open checkouts abandoned at their last update plus the delay."""
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


def recover_by_orders(
    session: Session, store: Store, order_ids: Sequence[int], former_contacts: Iterable[int] = ()
) -> int:
    """Settle again the checkouts that newly stored orders may have completed or recovered.

    Those named by the orders' checkout or cart tokens, and those of the orders' contacts (the
    product rule), and of the contacts the orders belonged to before (`former_contacts`). A
    cancelled order is looked at too: what it settled is settled again without it. Return how many
    checkouts changed.
    """
    if not order_ids:
        return 0
    checkout_ids: set[int] = set()
    contact_ids: set[int] = set(former_contacts)
    for part in chunks(list(order_ids)):
        rows = session.execute(
            select(Order.checkout_token, Order.cart_token, Order.contact_id).where(Order.id.in_(part))
        ).all()
        tokens = sorted({r.checkout_token for r in rows if r.checkout_token})
        carts_ = sorted({r.cart_token for r in rows if r.cart_token})
        contact_ids.update(r.contact_id for r in rows if r.contact_id is not None)
        for column, keys in ((Checkout.token, tokens), (Checkout.cart_token, carts_)):
            for keys_part in chunks(keys):
                checkout_ids.update(
                    session.scalars(
                        select(Checkout.id).where(Checkout.store_id == store.id, column.in_(keys_part))
                    )
                )
    return settle(session, store, checkout_ids, contact_ids)


@dataclass(frozen=True)
class _Cart:
    id: int
    token: str
    cart_token: str | None
    contact_id: int | None
    reachable: bool
    created: datetime
    updated: datetime
    completed_at: datetime | None
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


def settle(
    session: Session, store: Store, checkout_ids: Iterable[int], contact_ids: Iterable[int] = ()
) -> int:
    """Decide again, from the event times alone, what became of these checkouts; return how many changed.

    The checkouts of the contacts of these checkouts (and of `contact_ids`) in the store are decided
    with them, as the product rule shares one order among them. The outcome is a function of what
    is stored, whatever the order it arrived in:

    - an order naming the checkout (its checkout token, else its cart token), the earliest not older
      than the checkout, decides: placed by the abandonment time (last update plus the delay), or
      for a checkout nobody can be reached at, it *completed* the checkout; after it and within the
      recovery window it *recovered* it;
    - otherwise token-less orders of the same contact sharing a product, placed after the
      checkout's last update and within the window, are matched one to one (oldest order first, to
      the most recently updated checkout) and decide the same way;
    - otherwise a checkout the platform reported completed stays completed;
    - otherwise it is abandoned if it was abandoned at this same time already (by the scheduler, or
      proven by a later order), else it is open, and the scheduler abandons it when its time comes.
    """
    account = session.get(Account, store.account_id)
    assert account is not None  # noqa: S101 - a store always has its account
    windows = Windows.of(account)
    carts_ = _load(session, store, set(checkout_ids), set(contact_ids))
    if not carts_:
        return 0
    decided = _by_tokens(session, store, windows, carts_)
    decided.update(_by_products(session, windows, carts_, decided))
    changed: list[_Cart] = []
    for cart in carts_.values():
        target = _target(cart, windows, decided.get(cart.id))
        if target.settled != cart.settled:
            changed.append(target)
    _write(session, store.account_id, changed)
    return len(changed)


def _load(session: Session, store: Store, checkout_ids: set[int], contact_ids: set[int]) -> dict[int, _Cart]:
    """The store's live checkouts among these, with every checkout of their contacts."""
    columns = (
        Checkout.id,
        Checkout.token,
        Checkout.cart_token,
        Checkout.contact_id,
        Checkout.email,
        Checkout.created_at,
        Checkout.updated_at,
        Checkout.completed_at,
        Checkout.state,
        Checkout.abandoned_at,
        Checkout.recovered_at,
        Checkout.recovered_by_order_id,
        Checkout.recovery_rule,
    )
    live = (Checkout.store_id == store.id, Checkout.deleted_at.is_(None))
    rows: list[Any] = []
    for part in chunks(sorted(checkout_ids)):
        rows.extend(session.execute(select(*columns).where(*live, Checkout.id.in_(part))).all())
    contact_ids = contact_ids | {r.contact_id for r in rows if r.contact_id is not None}
    for part in chunks(sorted(contact_ids)):
        rows.extend(session.execute(select(*columns).where(*live, Checkout.contact_id.in_(part))).all())
    return {
        r.id: _Cart(
            id=r.id,
            token=r.token,
            cart_token=r.cart_token,
            contact_id=r.contact_id,
            reachable=r.contact_id is not None or r.email is not None,
            created=r.created_at,
            updated=r.updated_at,
            completed_at=r.completed_at,
            state=r.state,
            abandoned_at=r.abandoned_at,
            recovered_at=r.recovered_at,
            order_id=r.recovered_by_order_id,
            rule=r.recovery_rule,
        )
        for r in rows
    }


def _by_tokens(
    session: Session, store: Store, windows: Windows, carts_: dict[int, _Cart]
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


def _by_products(
    session: Session,
    windows: Windows,
    carts_: dict[int, _Cart],
    decided: dict[int, tuple[int, datetime, str]],
) -> dict[int, tuple[int, datetime, str]]:
    """Match token-less orders to the checkouts of their contact that no token decided."""
    open_ = [
        c.id
        for c in carts_.values()
        if c.id not in decided and c.contact_id is not None and not _platform_completed(c)
    ]
    return {c: (o, at, PRODUCT) for c, (o, at) in _assign(_product_pairs(session, open_), windows).items()}


def _platform_completed(cart: _Cart) -> bool:
    """The platform reported the checkout completed, and no order of ours decided it."""
    return cart.completed_at is not None and cart.rule is None


def _target(cart: _Cart, windows: Windows, decision: tuple[int, datetime, str] | None) -> _Cart:
    """The checkout as the timeline leaves it, given the order that decides it (if any)."""
    abandonment = cart.updated + windows.delay
    state, completed_at, abandoned_at = CheckoutState.OPEN, None, None
    recovered: tuple[datetime | None, int | None, str | None] = (None, None, None)
    if decision is not None:
        order_id, at, rule = decision
        if at <= abandonment or not cart.reachable:
            state, completed_at, recovered = CheckoutState.COMPLETED, at, (None, None, rule)
        else:
            state, abandoned_at, recovered = CheckoutState.RECOVERED, abandonment, (at, order_id, rule)
    elif _platform_completed(cart):
        state, completed_at = CheckoutState.COMPLETED, cart.completed_at
    elif (
        cart.reachable
        and cart.state in (CheckoutState.ABANDONED, CheckoutState.RECOVERED)
        and cart.abandoned_at == abandonment
    ):
        # Abandoned at this very time already: by the scheduler, or proven by a later order.
        state, abandoned_at = CheckoutState.ABANDONED, abandonment
    return replace(
        cart,
        state=state,
        completed_at=completed_at,
        abandoned_at=abandoned_at,
        recovered_at=recovered[0],
        order_id=recovered[1],
        rule=recovered[2],
    )


def _write(session: Session, account_id: int, changed: list[_Cart]) -> None:
    """Store the new outcomes and keep the contacts' cart events in step with them."""
    if not changed:
        return
    table = table_of(Checkout)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(
            state=bindparam("_state"),
            completed_at=bindparam("_completed"),
            abandoned_at=bindparam("_abandoned"),
            recovered_at=bindparam("_recovered"),
            recovered_by_order_id=bindparam("_order"),
            recovery_rule=bindparam("_rule"),
        ),
        [
            {
                "_id": c.id,
                "_state": c.state.value,
                "_completed": c.completed_at,
                "_abandoned": c.abandoned_at,
                "_recovered": c.recovered_at,
                "_order": c.order_id,
                "_rule": c.rule,
            }
            for c in changed
        ],
    )
    ids = [c.id for c in changed]
    _unlog(session, account_id, ids, InteractionType.CART_ABANDONED)
    _unlog(session, account_id, ids, InteractionType.CART_RECOVERED)
    _log(session, account_id, [c.id for c in changed if c.abandoned_at], InteractionType.CART_ABANDONED)
    _log(
        session,
        account_id,
        [c.id for c in changed if c.state == CheckoutState.RECOVERED],
        InteractionType.CART_RECOVERED,
    )


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


def _product_pairs(
    session: Session, checkout_ids: Sequence[int]
) -> list[tuple[int, int, datetime, datetime]]:
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


def _assign(
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
