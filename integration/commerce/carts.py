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
as engagement (`cart_events`). Which order decides a cart is `cart_matching`'s; how the records of
one checkout find its row, `checkout_identity`'s; the period figures, `cart_stats`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Interval, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from integration.commerce import cart_events
from integration.commerce.cart_matching import (
    Cart,
    Windows,
    by_products,
    by_tokens,
    platform_completed,
    product_pairs,
)
from integration.store import locks
from integration.store.bulk import among, chunks
from integration.store.locks import lock_key
from integration.store.models import Account, Checkout, CheckoutState, InteractionType, Order, Store, table_of
from integration.store.types import utcnow


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
        matched = {c for c, *_ in product_pairs(session, [c for c, _ in candidates])}
        store_ids: set[int] = set()
        for part in chunks(sorted(matched)):
            store_ids.update(session.scalars(select(Checkout.store_id).where(Checkout.id.in_(part))))
        for store_id in sorted(store_ids):
            store = session.get(Store, store_id)
            assert store is not None  # noqa: S101 - a checkout's store exists
            settle(session, store, matched)
        abandoned = [(c, updated + windows.delay) for c, updated in candidates]
        _mark(session, abandoned, windows.delay)
        cart_events.record(session, account.id, [c for c, _ in abandoned], InteractionType.CART_ABANDONED)
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
    # A store no checkout reaches (its orders come from a file, an API or a platform that sends
    # none) has nothing to settle: asked once, under the lock every settle of the store takes, so a
    # checkout another transaction is storing meanwhile waits, and then settles with these orders.
    locks.hold(session, [lock_key("carts", store.id)])
    if not session.scalar(select(exists().where(*_live(store)))):
        return 0
    checkout_ids: set[int] = set()
    contact_ids: set[int] = set(former_contacts)
    for part in chunks(list(order_ids)):
        rows = session.execute(
            select(Order.checkout_token, Order.cart_token, Order.contact_id).where(
                among(session, Order.id, part)
            )
        ).all()
        tokens = sorted({r.checkout_token for r in rows if r.checkout_token})
        carts_ = sorted({r.cart_token for r in rows if r.cart_token})
        contact_ids.update(r.contact_id for r in rows if r.contact_id is not None)
        for column, keys in ((Checkout.token, tokens), (Checkout.cart_token, carts_)):
            for keys_part in chunks(keys):
                checkout_ids.update(
                    session.scalars(
                        select(Checkout.id).where(
                            Checkout.store_id == store.id, among(session, column, keys_part)
                        )
                    )
                )
    return _settle_held(session, store, checkout_ids, contact_ids)


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

    Settles of one store take turns (an advisory lock held until commit), so a checkout and its
    order stored by two workers at once are always decided together by the later of the two.
    """
    # Two transactions storing a checkout and its order at once would each miss the other's
    # uncommitted row and leave the cart undecided: the second to settle waits for the first's
    # commit, and then reads both (READ COMMITTED).
    locks.hold(session, [lock_key("carts", store.id)])
    return _settle_held(session, store, checkout_ids, contact_ids)


def _settle_held(
    session: Session, store: Store, checkout_ids: Iterable[int], contact_ids: Iterable[int]
) -> int:
    """`settle`, the store's settle lock held already."""
    account = session.get(Account, store.account_id)
    assert account is not None  # noqa: S101 - a store always has its account
    windows = Windows.of(account)
    carts_ = _load(session, store, set(checkout_ids), set(contact_ids))
    if not carts_:
        return 0
    decided = by_tokens(session, store, windows, carts_)
    decided.update(by_products(session, windows, carts_, decided))
    changed: list[Cart] = []
    for cart in carts_.values():
        target = _target(cart, windows, decided.get(cart.id))
        if target.settled != cart.settled:
            changed.append(target)
    _write(session, store.account_id, changed)
    return len(changed)


def _live(store: Store) -> tuple[Any, ...]:
    """The store's checkouts that are not deleted."""
    return (Checkout.store_id == store.id, Checkout.deleted_at.is_(None))


def _load(session: Session, store: Store, checkout_ids: set[int], contact_ids: set[int]) -> dict[int, Cart]:
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
        Checkout.platform_completed_at,
        Checkout.state,
        Checkout.abandoned_at,
        Checkout.recovered_at,
        Checkout.recovered_by_order_id,
        Checkout.recovery_rule,
    )
    live = _live(store)
    rows: list[Any] = []
    for part in chunks(sorted(checkout_ids)):
        rows.extend(session.execute(select(*columns).where(*live, among(session, Checkout.id, part))).all())
    contact_ids = contact_ids | {r.contact_id for r in rows if r.contact_id is not None}
    for part in chunks(sorted(contact_ids)):
        rows.extend(
            session.execute(select(*columns).where(*live, among(session, Checkout.contact_id, part))).all()
        )
    return {
        r.id: Cart(
            id=r.id,
            token=r.token,
            cart_token=r.cart_token,
            contact_id=r.contact_id,
            reachable=r.contact_id is not None or r.email is not None,
            created=r.created_at,
            updated=r.updated_at,
            completed_at=r.completed_at,
            platform_completed_at=r.platform_completed_at,
            state=r.state,
            abandoned_at=r.abandoned_at,
            recovered_at=r.recovered_at,
            order_id=r.recovered_by_order_id,
            rule=r.recovery_rule,
        )
        for r in rows
    }


def _target(cart: Cart, windows: Windows, decision: tuple[int, datetime, str] | None) -> Cart:
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
    elif platform_completed(cart):
        state, completed_at = CheckoutState.COMPLETED, cart.platform_completed_at
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


def _write(session: Session, account_id: int, changed: list[Cart]) -> None:
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
    cart_events.withdraw(session, account_id, ids, InteractionType.CART_ABANDONED)
    cart_events.withdraw(session, account_id, ids, InteractionType.CART_RECOVERED)
    cart_events.record(
        session, account_id, [c.id for c in changed if c.abandoned_at], InteractionType.CART_ABANDONED
    )
    cart_events.record(
        session,
        account_id,
        [c.id for c in changed if c.state == CheckoutState.RECOVERED],
        InteractionType.CART_RECOVERED,
    )
