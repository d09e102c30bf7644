"""What becomes of a cart follows the times of its events, never the order they are processed in.

A store's timeline (checkouts created and updated, orders naming them by token or sharing a
product) is turned into Shopify deliveries, shuffled, and processed through the inbox as the jobs
do, with the abandonment tick run at random moments in between. The carts must then be those a
straight reading of the timeline gives.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.registry import SOURCES
from integration.commerce.carts import mark_abandoned
from integration.ingest import inbox
from integration.store import session_scope
from integration.store.models import (
    Account,
    Checkout,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    InteractionType,
    Order,
)
from tests.support.builders import NOW, make_store
from tests.support.shopify import payload

PRODUCTS = (632910392, 632910393, 632910394)
RECOVERY = timedelta(days=7)
TIMELINE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Person:
    email: str
    customer_id: int | None  # None: a guest known by email only


@dataclass(frozen=True)
class Cart:
    token: str
    person: Person | None  # None: nobody to reach
    versions: tuple[datetime, ...]  # created, then each update
    products: frozenset[int]
    email_from: int  # the first version that carries the email (the buyer types it in later)
    completed: datetime | None = None  # a last version reports it completed (its order placed)

    @property
    def cart_token(self) -> str:
        return f"cart-{self.token}"

    @property
    def reachable(self) -> bool:
        return self.person is not None


@dataclass(frozen=True)
class Purchase:
    external_id: int
    person: Person
    at: datetime
    checkout_token: str | None
    cart_token: str | None
    products: frozenset[int]


@dataclass(frozen=True)
class Outcome:
    state: str
    completed_at: datetime | None = None
    abandoned_at: datetime | None = None
    recovered_at: datetime | None = None
    recovered_by: int | None = None
    rule: str | None = None


def expected(
    carts: list[Cart], orders: list[Purchase], delay: timedelta, now: datetime
) -> dict[str, Outcome]:
    """The carts as the timeline reads, the abandonment tick last run at `now`."""
    decided: dict[str, tuple[Purchase, str]] = {}
    for cart in carts:
        abandonment = cart.versions[-1] + delay
        for rule, matches in (
            ("checkout_token", [o for o in orders if o.checkout_token == cart.token]),
            ("cart_token", [o for o in orders if o.cart_token == cart.cart_token]),
        ):
            named = sorted((o for o in matches if o.at >= cart.versions[0]), key=lambda o: o.at)
            if named:
                if not cart.reachable or named[0].at <= abandonment + RECOVERY:
                    decided[cart.token] = (named[0], rule)
                break
    # Token-less orders: oldest first, each to the most recently updated cart of its buyer it fits.
    pairs = sorted(
        (
            (o.at, -cart.versions[-1].timestamp(), o, cart)
            for o in orders
            if o.checkout_token is None and o.cart_token is None
            for cart in carts
            if cart.token not in decided
            and cart.completed is None
            and cart.person == o.person
            and cart.products & o.products
            and cart.versions[-1] <= o.at <= cart.versions[-1] + delay + RECOVERY
        ),
        key=lambda p: p[:2],
    )
    taken: set[int] = set()
    for _, _, o, cart in pairs:
        if o.external_id not in taken and cart.token not in decided:
            decided[cart.token] = (o, "product")
            taken.add(o.external_id)
    outcome = {}
    for cart in carts:
        abandonment = cart.versions[-1] + delay
        if cart.token in decided:
            o, rule = decided[cart.token]
            if o.at <= abandonment or not cart.reachable:
                outcome[cart.token] = Outcome("completed", completed_at=o.at)
            else:
                outcome[cart.token] = Outcome(
                    "recovered",
                    abandoned_at=abandonment,
                    recovered_at=o.at,
                    recovered_by=o.external_id,
                    rule=rule,
                )
        elif cart.completed:
            outcome[cart.token] = Outcome("completed", completed_at=cart.completed)
        elif cart.reachable and abandonment < now:
            outcome[cart.token] = Outcome("abandoned", abandoned_at=abandonment)
        else:
            outcome[cart.token] = Outcome("open")
    return outcome


def _checkout_body(cart: Cart, version: int) -> dict[str, Any]:
    """The checkout as its version tells it; the version after the last is its completion."""
    body = payload("checkouts_create")
    email = cart.person.email if cart.person and version >= cart.email_from else None
    completed = version == len(cart.versions)
    updated = cart.completed if completed else cart.versions[version]
    assert updated is not None
    customer = None
    if cart.person and cart.person.customer_id:
        customer = {**body["customer"], "id": cart.person.customer_id, "email": cart.person.email}
    line = body["line_items"][0]
    return {
        **body,
        "token": cart.token,
        "cart_token": cart.cart_token,
        "email": email,
        "customer": customer,
        "created_at": cart.versions[0].isoformat(),
        "updated_at": updated.isoformat(),
        "completed_at": updated.isoformat() if completed else None,
        "line_items": [
            {**line, "key": f"{cart.token}-{p}", "product_id": p, "sku": f"SKU{p}"}
            for p in sorted(cart.products)
        ],
    }


def _order_body(o: Purchase) -> dict[str, Any]:
    body = payload("orders_create")
    line = body["line_items"][0]
    customer = None
    if o.person.customer_id:
        customer = {**body["customer"], "id": o.person.customer_id, "email": o.person.email}
    return {
        **body,
        "id": o.external_id,
        "email": o.person.email,
        "contact_email": o.person.email,
        "customer": customer,
        "checkout_token": o.checkout_token,
        "cart_token": o.cart_token,
        "created_at": o.at.isoformat(),
        "processed_at": o.at.isoformat(),
        "updated_at": o.at.isoformat(),
        "refunds": [],
        "line_items": [
            {**line, "id": o.external_id * 10 + n, "product_id": p, "sku": f"SKU{p}"}
            for n, p in enumerate(sorted(o.products))
        ],
    }


@st.composite
def timelines(draw: Any) -> tuple[timedelta, list[Cart], list[Purchase]]:
    """A store's carts and orders; every event at its own minute, so no tie needs breaking."""
    delay = timedelta(minutes=draw(st.sampled_from([10, 60, 24 * 60])))
    people = [
        Person("ann@example.com", 5001),
        Person("bob@example.com", None),
    ]
    minute = st.integers(0, 12 * 24 * 60)
    n_carts = draw(st.integers(1, 4))
    cart_versions = [draw(st.integers(1, 3)) for _ in range(n_carts)]
    n_orders = draw(st.integers(0, 4))
    # Times near a checkout's abandonment (last update plus the delay) are the interesting ones.
    times = draw(
        st.lists(
            minute,
            min_size=sum(cart_versions) + n_orders,
            max_size=sum(cart_versions) + n_orders,
            unique=True,
        )
    )
    at = iter(NOW + timedelta(minutes=m) for m in times)
    carts = []
    for i, n in enumerate(cart_versions):
        versions = tuple(sorted(next(at) for _ in range(n)))
        carts.append(
            Cart(
                token=f"t{i}",
                person=draw(st.sampled_from([*people, None])),
                versions=versions,
                products=frozenset(draw(st.sets(st.sampled_from(PRODUCTS), min_size=1, max_size=2))),
                email_from=draw(st.integers(0, n - 1)),
            )
        )
    orders = []
    for j in range(n_orders):
        cart = draw(st.sampled_from(carts))
        how = draw(st.sampled_from(["checkout_token", "cart_token", "product", "product"]))
        placed = next(at)
        if draw(st.booleans()):  # just before or after the cart's abandonment time
            placed = cart.versions[-1] + delay + timedelta(minutes=draw(st.integers(-2, 2)) - j * 7)
        orders.append(
            Purchase(
                external_id=900 + j,
                person=cart.person or draw(st.sampled_from(people)),
                at=placed,
                checkout_token=cart.token if how == "checkout_token" else None,
                cart_token=cart.cart_token if how == "cart_token" else None,
                products=frozenset(draw(st.sets(st.sampled_from(PRODUCTS), min_size=1, max_size=2))),
            )
        )
    # Shopify reports a checkout completed when its order is placed, in a version of its own.
    for n, cart in enumerate(carts):
        placed_by_token = sorted(
            o.at for o in orders if o.checkout_token == cart.token and o.at >= cart.versions[0]
        )
        if placed_by_token and draw(st.booleans()):
            carts[n] = replace(cart, completed=placed_by_token[0])
    return delay, carts, orders


def _distinct(carts: list[Cart], orders: list[Purchase]) -> bool:
    times = [t for c in carts for t in c.versions] + [o.at for o in orders]
    return len(set(times)) == len(times)


@TIMELINE
@given(timeline=timelines(), data=st.data())
def test_carts_follow_the_timeline_whatever_the_processing_order(
    db_url: str, timeline: tuple[timedelta, list[Cart], list[Purchase]], data: st.DataObject
) -> None:
    delay, carts, orders = timeline
    assume(_distinct(carts, orders))
    deliveries: list[tuple[datetime, str, dict[str, Any]]] = (
        [
            (t, "checkouts/create" if v == 0 else "checkouts/update", _checkout_body(c, v))
            for c in carts
            for v, t in enumerate(c.versions)
        ]
        + [
            (c.completed, "checkouts/update", _checkout_body(c, len(c.versions)))
            for c in carts
            if c.completed
        ]
        + [(o.at, "orders/create", _order_body(o)) for o in orders]
    )
    deliveries = data.draw(st.permutations(deliveries))
    run = uuid.uuid4().hex
    with session_scope(db_url) as session:
        store = make_store(session)
        store_id = store.id
        account = session.get(Account, store.account_id)
        assert account is not None
        account.abandonment_delay_minutes = int(delay.total_seconds() // 60)
    seen = NOW
    last_tick = NOW
    position = 0
    while position < len(deliveries):
        size = data.draw(st.integers(1, 3))
        batch = deliveries[position : position + size]
        position += size
        with session_scope(db_url) as session:
            ids = [
                inbox.receive(
                    session,
                    source="shopify",
                    topic=topic,
                    delivery_id=f"{run}-{position}-{n}",
                    body=json.dumps(body).encode(),
                    store_id=store_id,
                    signature_verified=True,
                ).id
                for n, (_, topic, body) in enumerate(batch)
            ]
            inbox.process(session, ids, SOURCES)
            statuses = session.scalars(select(InboxDelivery.status).where(InboxDelivery.id.in_(ids))).all()
            assert set(statuses) == {InboxStatus.PROCESSED}
        seen = max([seen, *(t for t, _, _ in batch)])
        if data.draw(st.booleans()):  # the scheduler's tick, at some time after what was seen
            last_tick = max(last_tick, seen + timedelta(minutes=data.draw(st.integers(0, 3 * 24 * 60))))
            with session_scope(db_url) as session:
                mark_abandoned(session, now=last_tick)
    final = max(last_tick, seen) + timedelta(minutes=data.draw(st.integers(0, 9 * 24 * 60)))
    with session_scope(db_url) as session:
        mark_abandoned(session, now=final)
        orders_by_id = dict(
            session.execute(select(Order.id, Order.external_id).where(Order.store_id == store_id)).all()
        )
        stored = {
            c.token: Outcome(
                c.state.value,
                completed_at=c.completed_at,
                abandoned_at=c.abandoned_at,
                recovered_at=c.recovered_at,
                recovered_by=int(orders_by_id[c.recovered_by_order_id]) if c.recovered_by_order_id else None,
                rule=c.recovery_rule if c.state.value == "recovered" else None,
            )
            for c in session.scalars(select(Checkout).where(Checkout.store_id == store_id))
        }
        ids = {c.id: c.token for c in session.scalars(select(Checkout).where(Checkout.store_id == store_id))}
        events = {
            (ids[int(e.source_event_id.split(":")[0])], e.type, e.occurred_at)
            for e in session.scalars(
                select(InteractionEvent).where(
                    InteractionEvent.store_id == store_id, InteractionEvent.source == "carts"
                )
            )
        }
    want = expected(carts, orders, delay, final)
    assert stored == want
    # Each contact's cart events tell the same story, once each.
    assert events == {
        (token, InteractionType.CART_ABANDONED, o.abandoned_at)
        for token, o in want.items()
        if o.abandoned_at and next(c for c in carts if c.token == token).person
    } | {
        (token, InteractionType.CART_RECOVERED, o.recovered_at)
        for token, o in want.items()
        if o.recovered_at and next(c for c in carts if c.token == token).person
    }


def _deliver(db_url: str, store_id: int, topic: str, body: dict[str, Any]) -> None:
    """One delivery received and processed through the inbox, as the jobs do."""
    with session_scope(db_url) as session:
        received = inbox.receive(
            session,
            source="shopify",
            topic=topic,
            delivery_id=uuid.uuid4().hex,
            body=json.dumps(body).encode(),
            store_id=store_id,
            signature_verified=True,
        )
        inbox.process(session, [received.id], SOURCES)
        assert session.get(InboxDelivery, received.id).status == InboxStatus.PROCESSED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "arrival",
    [
        ("create", "completion", "order"),
        ("create", "order", "completion"),
        ("order", "completion", "create"),
        ("completion", "create", "order"),
    ],
)
def test_an_open_checkout_completed_days_after_its_delay_is_recovered(
    db_url: str, arrival: tuple[str, ...]
) -> None:
    buyer = Person("ann@example.com", 5001)
    placed = NOW + timedelta(days=3)
    cart = Cart("t1", buyer, (NOW,), frozenset(PRODUCTS[:1]), 0, completed=placed)
    purchase = Purchase(901, buyer, placed, "t1", None, frozenset(PRODUCTS[:1]))
    bodies = {
        "create": ("checkouts/create", _checkout_body(cart, 0)),
        "completion": ("checkouts/update", _checkout_body(cart, 1)),
        "order": ("orders/create", _order_body(purchase)),
    }
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    for step in arrival:  # nobody ran the abandonment tick in between: the checkout is open
        _deliver(db_url, store_id, *bodies[step])
    with session_scope(db_url) as session:
        [stored] = session.scalars(select(Checkout).where(Checkout.store_id == store_id)).all()
        assert (stored.state.value, stored.abandoned_at, stored.recovered_at, stored.recovery_rule) == (
            "recovered",
            NOW + timedelta(minutes=10),
            placed,
            "checkout_token",
        )
        assert mark_abandoned(session, now=placed + timedelta(days=1)) == 0
        events = session.scalars(
            select(InteractionEvent.type)
            .where(InteractionEvent.store_id == store_id)
            .order_by(InteractionEvent.occurred_at)
        ).all()
        assert InteractionType.CART_ABANDONED in events
        assert InteractionType.CART_RECOVERED in events


@pytest.mark.parametrize(
    "arrival",
    [
        ("create", "tick", "purchase", "completion", "own order"),
        ("create", "purchase", "tick", "own order", "completion"),
        ("create", "tick", "completion", "purchase", "own order"),
        ("completion", "purchase", "create", "own order"),
        ("own order", "completion", "purchase", "create", "tick"),
    ],
)
def test_a_checkout_the_platform_completed_is_not_recovered_by_another_order(
    db_url: str, arrival: tuple[str, ...]
) -> None:
    """A buyer leaves a cart, buys the product in another order that names no checkout, and days
    after the recovery window completes the cart itself: the other order was not this cart's. What
    arrived first must not decide it (the platform's completion used to be dropped for a cart the
    product rule had recovered already)."""
    buyer = Person("ann@example.com", 5001)
    completed = NOW + timedelta(days=11)
    cart = Cart("t1", buyer, (NOW,), frozenset(PRODUCTS[:1]), 0, completed=completed)
    purchase = Purchase(901, buyer, NOW + timedelta(hours=5), None, None, frozenset(PRODUCTS[:1]))
    own = Purchase(902, buyer, completed, "t1", None, frozenset(PRODUCTS[:1]))
    want = expected([cart], [purchase, own], timedelta(minutes=10), NOW + timedelta(days=20))
    assert want == {"t1": Outcome("completed", completed_at=completed)}
    bodies = {
        "create": ("checkouts/create", _checkout_body(cart, 0)),
        "completion": ("checkouts/update", _checkout_body(cart, 1)),
        "purchase": ("orders/create", _order_body(purchase)),
        "own order": ("orders/create", _order_body(own)),
    }
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    for step in arrival:
        if step == "tick":
            with session_scope(db_url) as session:
                mark_abandoned(session, now=NOW + timedelta(days=1))
        else:
            _deliver(db_url, store_id, *bodies[step])
    with session_scope(db_url) as session:
        mark_abandoned(session, now=NOW + timedelta(days=20))
        [stored] = session.scalars(select(Checkout).where(Checkout.store_id == store_id)).all()
        assert (stored.state.value, stored.completed_at, stored.abandoned_at, stored.recovered_at) == (
            "completed",
            completed,
            None,
            None,
        )
        events = session.scalars(
            select(InteractionEvent.type).where(
                InteractionEvent.store_id == store_id, InteractionEvent.source == "carts"
            )
        ).all()
        assert events == []
