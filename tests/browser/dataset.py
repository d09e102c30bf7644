"""A merchant's data as the admin pages show it: a few hundred contacts in every group, orders in two
currencies, and a month of daily counts, so the cards, the 30-day change and the trend all fill.

The history is built in the store directly, as tests/analytics do: today's classification is
snapshotted and moved 30 days back with the changes logged before it, then a month of changes
follows, and the days between get counts drawn between the two ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from integration.accounts import add_store, create_account
from integration.analytics import history
from integration.analytics.stats import refresh_stats
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events, ingest_orders
from integration.store import session_scope
from integration.store.models import (
    Backfill,
    BackfillStatus,
    Contact,
    ContactSnapshot,
    EngagementTransition,
    InteractionType,
    Platform,
    Role,
    Store,
    SubscriptionStatus,
    SubscriptionTransition,
    User,
)
from integration.store.types import utcnow
from tests.support.builders import customer, event, item, order

T = InteractionType
PASSWORD = "correct horse battery staple"
FIRST_NAMES = ("Anna", "Piotr", "Zofia", "Jan", "Maria", "Tomasz", "Lucía", "Pablo", "Ewa", "Marek", "Olga")
LAST_NAMES = ("Nowak", "Kowalska", "Wiśniewski", "García", "López", "Zielińska", "Mazur", "Wójcik", "Ruiz")
PRODUCTS = (
    ("Linen shirt", "29.90"),
    ("Wool scarf", "49.00"),
    ("Clay mug", "18.50"),
    ("Canvas tote", "24.00"),
)
# The statuses a new contact gets, weighted as a shop's list usually is.
STATUS_WEIGHTS = (
    (SubscriptionStatus.SUBSCRIBED, 6),
    (SubscriptionStatus.UNKNOWN, 3),
    (SubscriptionStatus.UNSUBSCRIBED, 1),
)
# The first snapshot's age: the 30-day change compares with it, the trend starts there.
HISTORY_DAYS = 30


@dataclass(frozen=True)
class Merchant:
    """What the dataset made: the account, its two stores, and an owner who can sign in."""

    account_id: int
    store_ids: tuple[int, ...]
    email: str
    password: str = PASSWORD


def add_owner(database_url: str, account_id: int, email: str, locale: str | None = None) -> None:
    """An owner of the account who signs in with `PASSWORD`."""
    with session_scope(database_url) as session:
        session.add(
            User(
                account_id=account_id,
                email=email,
                password_hash=generate_password_hash(PASSWORD),
                role=Role.OWNER,
                locale=locale,
            )
        )


def empty_account(database_url: str, email: str = "owner@example.com", locale: str | None = None) -> Merchant:
    """An account with no store and no contacts yet, and its owner."""
    with session_scope(database_url) as session:
        account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
    add_owner(database_url, account_id, email, locale)
    return Merchant(account_id, (), email)


def merchant(
    database_url: str,
    *,
    contacts: int = 320,
    seed: int = 20,
    email: str = "owner@example.com",
    account_id: int | None = None,
) -> Merchant:
    """Two stores (a CSV one in PLN, an API one in EUR) with `contacts` contacts and a month of
    history, in a new account or the one given."""
    rng = random.Random(seed)
    start = utcnow() - timedelta(hours=2)
    with session_scope(database_url) as session:
        if account_id is None:
            account_id = create_account(session, "Pracownia Lniana", "Europe/Warsaw").id
        stores = [
            add_store(
                session,
                account_id,
                platform=Platform.CSV,
                name="Pracownia Lniana",
                currency="PLN",
                time_zone="Europe/Warsaw",
            ),
            add_store(
                session,
                account_id,
                platform=Platform.API,
                name="Linen Studio EU",
                currency="EUR",
                time_zone="Europe/Berlin",
            ),
        ]
        people = [f"customer{i}@example.com" for i in range(contacts)]
        statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
        for index, store in enumerate(stores):
            mine = people[index::2]
            ingest_customers(
                session,
                store,
                [
                    customer(
                        f"c{index}-{i}",
                        address,
                        updated=start - timedelta(days=60),
                        first_name=rng.choice(FIRST_NAMES),
                        last_name=rng.choice(LAST_NAMES),
                        subscription_status=rng.choices(statuses, weights)[0],
                        subscription_changed_at=start - timedelta(days=60),
                    )
                    for i, address in enumerate(mine)
                ],
            )
            orders = []
            for i, address in enumerate(mine):
                for n in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
                    lines = [
                        item(*rng.choice(PRODUCTS), quantity=rng.randint(1, 3))
                        for _ in range(rng.randint(1, 2))
                    ]
                    if store.currency == "PLN":  # the same goods priced in złoty
                        lines = [item(x.title, str(x.unit_price * 4), x.quantity) for x in lines]
                    placed = start - timedelta(days=rng.randint(HISTORY_DAYS + 5, 420))
                    orders.append(
                        order(
                            f"o{index}-{i}-{n}",
                            created=placed,
                            currency=store.currency,
                            line_items=lines,
                            email=address,
                            customer_id=f"c{index}-{i}",
                            financial_status="paid",
                        )
                    )
            ingest_orders(session, store, orders)
        events = []
        for person in people:
            roll = rng.random()
            if roll < 0.45:  # interacted lately: engaged
                kind = rng.choice((T.EMAIL_OPEN, T.EMAIL_CLICK, T.PRODUCT_VIEW))
                events.append(
                    event(kind, at=start - timedelta(days=rng.randint(HISTORY_DAYS, 60)), email=person)
                )
            elif roll < 0.5:
                events.append(event(T.HARD_BOUNCE, at=start - timedelta(days=50), email=person))
        ingest_events(session, stores[0], events, source="api")
        classify(session, account_id, now=utcnow())
        history.take_snapshot(session, utcnow())
        store_ids = tuple(s.id for s in stores)
    _move_back(database_url, account_id, HISTORY_DAYS)
    _a_month_of_changes(database_url, account_id, store_ids, people, rng)
    _days_between(database_url, account_id, rng)
    add_owner(database_url, account_id, email)
    return Merchant(account_id, store_ids, email)


def _move_back(database_url: str, account_id: int, days: int) -> None:
    """Move the snapshot, and every change logged before it, `days` days back."""
    shift = timedelta(days=days)
    with session_scope(database_url) as session:
        for model in (EngagementTransition, SubscriptionTransition):
            for row in session.scalars(select(model).where(model.account_id == account_id)):
                row.at = row.at - shift
        for snap in session.scalars(select(ContactSnapshot).where(ContactSnapshot.account_id == account_id)):
            snap.day, snap.taken_at = snap.day - shift, snap.taken_at - shift


def _a_month_of_changes(
    database_url: str, account_id: int, store_ids: tuple[int, ...], people: list[str], rng: random.Random
) -> None:
    """New contacts, clicks, orders, complaints, unsubscriptions and a few deletions since the snapshot."""
    now = utcnow()
    with session_scope(database_url) as session:
        store = session.get(Store, store_ids[0])
        assert store is not None
        newcomers = [f"new{i}@example.com" for i in range(40)]
        ingest_customers(
            session,
            store,
            [
                customer(
                    f"n{i}",
                    email,
                    updated=now - timedelta(days=3),
                    first_name=rng.choice(FIRST_NAMES),
                    subscription_status=SubscriptionStatus.SUBSCRIBED,
                    subscription_changed_at=now - timedelta(days=3),
                )
                for i, email in enumerate(newcomers)
            ],
        )
        events = [event(T.EMAIL_CLICK, at=now - timedelta(days=2), email=e) for e in newcomers[:25]]
        events += [
            event(T.EMAIL_CLICK, at=now - timedelta(days=rng.randint(1, 20)), email=e)
            for e in rng.sample(people, 60)
        ]
        events += [
            event(T.SPAM_COMPLAINT, at=now - timedelta(days=5), email=e) for e in rng.sample(people, 6)
        ]
        events += [event(T.UNSUBSCRIBE, at=now - timedelta(days=4), email=e) for e in rng.sample(people, 12)]
        ingest_events(session, store, events, source="api")
        ingest_orders(
            session,
            store,
            [
                order(
                    f"recent{i}",
                    created=now - timedelta(days=i % 20 + 1),
                    currency="PLN",
                    email=e,
                    line_items=[item("Linen shirt", "119.60")],
                    financial_status="paid",
                )
                for i, e in enumerate(newcomers[:10])
            ],
        )
        gone = rng.sample(people, 3)
        session.execute(update(Contact).where(Contact.email.in_(gone)).values(deleted_at=now))
        classify(session, account_id, now=utcnow())
        history.take_snapshot(session, utcnow())


def _days_between(database_url: str, account_id: int, rng: random.Random) -> None:
    """Counts for the days between the first snapshot and today's, drawn between the two."""
    with session_scope(database_url) as session:
        rows = session.scalars(select(ContactSnapshot).where(ContactSnapshot.account_id == account_id)).all()
        first_day, last_day = min(r.day for r in rows), max(r.day for r in rows)
        span = (last_day - first_day).days
        ends: dict[tuple[SubscriptionStatus, object], list[int]] = {}
        for r in rows:
            pair = ends.setdefault((r.subscription_status, r.engagement_status), [0, 0])
            pair[0 if r.day == first_day else 1] += r.contacts
        last_taken = max(r.taken_at for r in rows)
        for offset in range(1, span):
            day = first_day + timedelta(days=offset)
            for (status, group), (then, now) in ends.items():
                drawn = then + (now - then) * offset / span + rng.uniform(-1.5, 1.5)
                session.add(
                    ContactSnapshot(
                        account_id=account_id,
                        day=day,
                        subscription_status=status,
                        engagement_status=group,
                        contacts=max(0, round(drawn)),
                        taken_at=last_taken - timedelta(days=span - offset),
                    )
                )
        refresh_stats(session, account_id)


def imported_shop(database_url: str, store_id: int) -> Merchant:
    """Fill the account of a connected Shopify store with the dataset, its history imported from
    Shopify (every backfill stage completed)."""
    now = utcnow()
    with session_scope(database_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        account_id = store.account_id
        for stage in ("customers", "orders", "checkouts"):
            session.add(
                Backfill(
                    store_id=store_id,
                    stage=stage,
                    status=BackfillStatus.COMPLETED,
                    records=120,
                    started_at=now - timedelta(days=31),
                    finished_at=now - timedelta(days=31),
                )
            )
    return merchant(database_url, account_id=account_id)
