"""The statistics' counted sums: folding in only the noted contacts always agrees with counting afresh."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from integration.analytics import counted, history
from integration.analytics.stats import SubscriptionFilter, contact_stats
from integration.contacts.changes import merge
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events, ingest_orders
from integration.store import session_scope
from integration.store.models import (
    Account,
    Contact,
    ContactTotals,
    EngagementStatus,
    EngagementTransition,
    InteractionType,
    StatsBase,
    StatsCounted,
    StatsCountedMoney,
    StatsCountedMoves,
    StatsDirty,
    SubscriptionStatus,
    SubscriptionTransition,
)
from integration.store.types import utcnow
from tests.support.builders import customer, event, make_store, order

ENGAGEMENT = [None, *EngagementStatus]
CURRENCIES = ["EUR", "USD", "PLN"]


def counted_afresh(session: Any, account_id: int, since: datetime | None = None) -> counted.Sums:
    """The sums straight from the contacts, their totals and the transition logs: what the folds
    must always equal."""
    live = [Contact.account_id == account_id, Contact.deleted_at.is_(None)]
    counts = {
        (e, s): n
        for e, s, n in session.execute(
            select(Contact.engagement_status, Contact.subscription_status, func.count())
            .where(*live)
            .group_by(Contact.engagement_status, Contact.subscription_status)
        )
    }
    money = {
        (e, s, c): [int(o), Decimal(r), b]
        for e, s, c, o, r, b in session.execute(
            select(
                Contact.engagement_status,
                Contact.subscription_status,
                ContactTotals.currency,
                func.sum(ContactTotals.revenue_orders),
                func.sum(ContactTotals.revenue),
                func.count(),
            )
            .join(ContactTotals, ContactTotals.contact_id == Contact.id)
            .where(*live, ContactTotals.revenue_orders > 0)
            .group_by(Contact.engagement_status, Contact.subscription_status, ContactTotals.currency)
        )
    }
    moves = {}
    if since is not None:
        moves = {row[:6]: row[6] for row in _combos(session, account_id, since)}
    return counted.Sums(counts, money, moves)


# The movements as the statistics counted them before they were kept by notes (one statement over
# the transition logs), the oracle on PostgreSQL; SQLite's are those `history.movements` counts.
COMBOS_SQL = """
WITH eb AS (SELECT DISTINCT ON (contact_id) contact_id, from_status FROM engagement_transitions
            WHERE account_id = :account AND at > :since ORDER BY contact_id, id),
     sb AS (SELECT DISTINCT ON (contact_id) contact_id, from_status FROM subscription_transitions
            WHERE account_id = :account AND at > :since ORDER BY contact_id, id),
     logged AS (SELECT coalesce(eb.contact_id, sb.contact_id) AS contact_id,
                       eb.contact_id IS NOT NULL AS has_e, eb.from_status AS then_e,
                       sb.contact_id IS NOT NULL AS has_s, sb.from_status AS then_s
                FROM eb FULL JOIN sb ON sb.contact_id = eb.contact_id),
     changed AS (SELECT * FROM logged
                 UNION ALL
                 SELECT id, false, NULL, false, NULL FROM contacts
                 WHERE account_id = :account AND deleted_at > :since
                   AND id NOT IN (SELECT contact_id FROM logged))
SELECT NOT ch.has_e OR ch.then_e IS NOT NULL,
       CASE WHEN ch.has_e THEN ch.then_e ELSE c.engagement_status END,
       CASE WHEN ch.has_s THEN ch.then_s ELSE c.subscription_status END,
       c.engagement_status, c.subscription_status, c.deleted_at IS NOT NULL, count(*)
FROM changed ch JOIN contacts c ON c.id = ch.contact_id
GROUP BY 1, 2, 3, 4, 5, 6
"""


def _combos(session: Any, account_id: int, since: datetime) -> list[tuple[Any, ...]]:
    if session.get_bind().dialect.name != "postgresql":
        return [tuple(row) for row in history._combos(session, account_id, since)]
    rows = session.execute(text(COMBOS_SQL), {"account": account_id, "since": since}).all()
    return [(*history.combo(row[:6]), row[6]) for row in rows]


def _same(a: counted.Sums, b: counted.Sums) -> None:
    assert a.pruned().counts == b.pruned().counts
    assert a.pruned().money == b.pruned().money
    assert a.pruned().moves == b.pruned().moves


def _mutate(session: Any, account_id: int, rng: random.Random, serial: list[int], since: datetime) -> str:
    """One random change of the kinds the product makes; return what it was."""
    ids = list(
        session.scalars(select(Contact.id).where(Contact.account_id == account_id).order_by(Contact.id))
    )
    kinds = ["add", "group", "subscription", "delete", "undelete", "erase", "money", "unmoney", "many"]
    kind = rng.choice([*kinds, "logged", "logged", "moved_log"])
    if kind == "add" or not ids:
        for _ in range(rng.randint(1, 5)):
            serial[0] += 1
            session.add(
                Contact(
                    account_id=account_id,
                    email=f"c{serial[0]}@example.com",
                    engagement_status=rng.choice(ENGAGEMENT),
                    subscription_status=rng.choice(list(SubscriptionStatus)),
                )
            )
        return "add"
    picked = rng.sample(ids, min(len(ids), rng.randint(1, 4)))
    if kind == "group":
        session.execute(
            update(Contact).where(Contact.id.in_(picked)).values(engagement_status=rng.choice(ENGAGEMENT))
        )
    elif kind == "subscription":
        status = rng.choice(list(SubscriptionStatus))
        session.execute(update(Contact).where(Contact.id.in_(picked)).values(subscription_status=status))
    elif kind == "delete":  # now, or before the snapshot; a deleted contact deleted again moves its time
        at = rng.choice([utcnow(), since - timedelta(hours=2)])
        session.execute(update(Contact).where(Contact.id.in_(picked)).values(deleted_at=at))
    elif kind == "undelete":
        session.execute(update(Contact).where(Contact.id.in_(picked)).values(deleted_at=None))
    elif kind == "erase":  # a hard delete: its totals go with it (ON DELETE CASCADE)
        session.execute(delete(Contact).where(Contact.id == picked[0]))
    elif kind == "money":
        for contact_id in picked:
            currency = rng.choice(CURRENCIES)
            row = session.get(ContactTotals, (contact_id, currency))
            orders, revenue = rng.randint(0, 3), Decimal(rng.randint(0, 50_000)) / 100
            if row is None:
                now = utcnow()
                session.add(
                    ContactTotals(
                        contact_id=contact_id,
                        currency=currency,
                        account_id=account_id,
                        orders=orders,
                        revenue_orders=orders,
                        revenue=revenue,
                        first_order_at=now,
                        last_order_at=now,
                    )
                )
            else:
                row.revenue_orders, row.orders, row.revenue = orders, orders, revenue
    elif kind == "logged":  # a logged change, before or after the snapshot
        at = since + timedelta(hours=rng.choice([-5, -1, 1, 5]))
        for contact_id in picked:
            if rng.random() < 0.5:
                session.add(
                    EngagementTransition(
                        account_id=account_id,
                        contact_id=contact_id,
                        from_status=rng.choice(ENGAGEMENT),
                        to_status=rng.choice(list(EngagementStatus)),
                        at=at,
                        reason="test",
                    )
                )
            else:
                session.add(
                    SubscriptionTransition(
                        account_id=account_id,
                        contact_id=contact_id,
                        from_status=rng.choice(list(SubscriptionStatus)),
                        to_status=rng.choice(list(SubscriptionStatus)),
                        changed_at=at,
                        at=at,
                    )
                )
    elif kind == "moved_log":  # a merge hands one contact's log to another
        for model in (EngagementTransition, SubscriptionTransition):
            session.execute(update(model).where(model.contact_id == picked[0]).values(contact_id=picked[-1]))
    elif kind == "unmoney":  # a buyer's orders all cancelled or moved: its totals row goes
        buyers = list(
            session.scalars(select(ContactTotals.contact_id).where(ContactTotals.account_id == account_id))
        )
        gone = rng.sample(buyers, min(len(buyers), 2))
        session.execute(delete(ContactTotals).where(ContactTotals.contact_id.in_(gone)))
    else:  # one statement moving many contacts, as a reclassification does
        session.execute(
            update(Contact)
            .where(Contact.account_id == account_id, Contact.id % 3 == rng.randint(0, 2))
            .values(engagement_status=rng.choice(ENGAGEMENT))
        )
    session.flush()
    return kind


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folding_the_noted_contacts_always_agrees_with_counting_afresh(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    serial = [0]
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        other = make_store(session).account_id  # its changes never touch the first account's sums
    now = utcnow()
    since: datetime | None = now - timedelta(days=3)
    done: list[str] = []
    for step in range(80):
        with session_scope(db_url) as session:
            for _ in range(rng.randint(1, 3)):
                target = rng.choice([account_id, account_id, other])
                done.append(_mutate(session, target, rng, serial, now - timedelta(days=3)))
        if step == 50:  # a new snapshot day: the moves are counted from another time
            since = now - timedelta(days=2)
        if step == 65:
            since = None
        if step % 3 == 0 or rng.random() < 0.3:
            with session_scope(db_url) as session:
                folded = counted.fold(session, account_id, now, since)
            with session_scope(db_url) as session:
                _same(folded, counted_afresh(session, account_id, since))
                base = session.get(StatsBase, account_id)
                assert base is not None
                _same(counted.Sums.from_json(base.groups), folded)
    with session_scope(db_url) as session:
        _same(counted.fold(session, account_id, now, since), counted_afresh(session, account_id, since))
        _same(counted.fold(session, other, now, since), counted_afresh(session, other, since))
    assert {"add", "group", "delete", "erase", "money", "unmoney", "many", "logged", "moved_log"} <= set(done)


def test_a_fold_recounts_only_the_noted_contacts_and_takes_their_notes(db_url: str) -> None:
    now = utcnow()
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        for n in range(40):
            session.add(Contact(account_id=account_id, email=f"c{n}@example.com"))
    with session_scope(db_url) as session:
        first = counted.fold(session, account_id, now, None)  # the first: every contact, afresh
        assert first.counts == {(None, SubscriptionStatus.UNKNOWN): 40}
    with session_scope(db_url) as session:
        base = session.get(StatsBase, account_id)
        assert base is not None
        assert base.rebuilt_at == now
        assert session.scalar(select(func.count()).select_from(StatsDirty)) == 0
        changed = session.scalars(select(Contact.id).order_by(Contact.id).limit(3)).all()
        session.execute(
            update(Contact).where(Contact.id.in_(changed)).values(engagement_status=EngagementStatus.ENGAGED)
        )
        session.execute(update(Contact).where(Contact.id.in_(changed)).values(first_name="Same group"))
        noted = session.scalars(select(StatsDirty.contact_id)).all()
        assert sorted(noted) == sorted(changed)  # a change outside the group leaves no note
    later = now + timedelta(hours=1)
    with session_scope(db_url) as session:
        sums = counted.fold(session, account_id, later, None)
        assert sums.counts == {
            (None, SubscriptionStatus.UNKNOWN): 37,
            (EngagementStatus.ENGAGED, SubscriptionStatus.UNKNOWN): 3,
        }
    with session_scope(db_url) as session:
        base = session.get(StatsBase, account_id)
        assert base is not None
        assert (base.rebuilt_at, base.folded_at) == (now, later)  # folded, not rebuilt
        assert session.scalar(select(func.count()).select_from(StatsDirty)) == 0


def test_a_change_the_notes_missed_is_mended_by_the_daily_recount(db_url: str) -> None:
    now = utcnow()
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        for n in range(10):
            session.add(Contact(account_id=account_id, email=f"c{n}@example.com"))
    with session_scope(db_url) as session:
        counted.fold(session, account_id, now, None)
    with session_scope(db_url) as session:  # as a restore with triggers off would: no note
        session.execute(update(Contact).values(subscription_status=SubscriptionStatus.SUBSCRIBED))
        session.execute(delete(StatsDirty))
    with session_scope(db_url) as session:
        assert counted.fold(session, account_id, now + timedelta(hours=23), None).counts == {
            (None, SubscriptionStatus.UNKNOWN): 10
        }
    with session_scope(db_url) as session:
        assert counted.fold(session, account_id, now + timedelta(days=1), None).counts == {
            (None, SubscriptionStatus.SUBSCRIBED): 10
        }


def test_notes_for_many_contacts_count_the_account_afresh(db_url: str) -> None:
    now = utcnow()
    with session_scope(db_url) as session:
        account_id = make_store(session).account_id
        session.execute(
            Contact.__table__.insert(),
            [{"account_id": account_id, "email": f"c{n}@example.com"} for n in range(2000)],
        )
    with session_scope(db_url) as session:
        counted.fold(session, account_id, now, None)
    with session_scope(db_url) as session:  # a time-frame change moving 600 of 2,000
        session.execute(
            update(Contact).where(Contact.id <= 600).values(engagement_status=EngagementStatus.UNENGAGED)
        )
    later = now + timedelta(minutes=1)
    with session_scope(db_url) as session:
        sums = counted.fold(session, account_id, later, None)
        assert sums.counts == {
            (None, SubscriptionStatus.UNKNOWN): 1400,
            (EngagementStatus.UNENGAGED, SubscriptionStatus.UNKNOWN): 600,
        }
        base = session.get(StatsBase, account_id)
        assert base is not None
        assert base.rebuilt_at == later


def test_a_recount_leaves_the_transaction_planning_as_before(postgres_url: str) -> None:
    # The recount joins by hashing only (fresh tables look empty to the planner); what the same
    # transaction runs after it is planned as usual.
    with session_scope(postgres_url) as session:
        session.execute(text("TRUNCATE accounts RESTART IDENTITY CASCADE"))
        account_id = make_store(session).account_id
        session.execute(
            Contact.__table__.insert(),
            [{"account_id": account_id, "email": f"c{n}@example.com"} for n in range(50)],
        )
    with session_scope(postgres_url) as session:
        assert session.scalar(text("SHOW enable_nestloop")) == "on"
        sums = counted.fold(session, account_id, utcnow(), None)
        assert sums.counts == {(None, SubscriptionStatus.UNKNOWN): 50}
        assert session.scalar(text("SHOW enable_nestloop")) == "on"


def test_a_change_committed_while_a_fold_runs_is_counted_by_the_next(postgres_url: str) -> None:
    now = utcnow()
    with session_scope(postgres_url) as session:
        session.execute(text("TRUNCATE accounts RESTART IDENTITY CASCADE"))
        session.execute(text("TRUNCATE stats_dirty"))
        account_id = make_store(session).account_id
        for n in range(5):
            session.add(Contact(account_id=account_id, email=f"c{n}@example.com"))
    with session_scope(postgres_url) as session:
        counted.fold(session, account_id, now, None)
    with session_scope(postgres_url) as writer:
        writer.execute(update(Contact).values(engagement_status=EngagementStatus.ENGAGED))
        with session_scope(postgres_url) as session:  # the writer has not committed: no note yet
            assert counted.fold(session, account_id, now, None).counts == {
                (None, SubscriptionStatus.UNKNOWN): 5
            }
    with session_scope(postgres_url) as session:
        assert counted.fold(session, account_id, now, None).counts == {
            (EngagementStatus.ENGAGED, SubscriptionStatus.UNKNOWN): 5
        }


def test_statistics_follow_orders_events_and_merges_after_the_first_refresh(db_url: str) -> None:
    now = utcnow()
    with session_scope(db_url) as session:
        store = make_store(session, "EUR")
        account_id = store.account_id
        ingest_customers(
            session,
            store,
            [
                customer("1", "a@example.com", subscription_status=SubscriptionStatus.SUBSCRIBED),
                customer("2", "b@example.com", subscription_status=SubscriptionStatus.UNKNOWN),
            ],
        )
        ingest_orders(
            session,
            store,
            [order("o1", created=now - timedelta(days=400), customer_id="1", total_price="10.00")],
        )
        classify(session, account_id)
        groups = contact_stats(session, account_id, SubscriptionFilter.SUBSCRIBED_UNKNOWN)["groups"]
        assert (groups["engaged"]["count"], groups["unengaged"]["count"]) == (0, 2)
    with session_scope(db_url) as session:
        ingest_orders(
            session,
            store,
            [order("o2", created=now - timedelta(days=1), customer_id="2", total_price="4.50")],
        )
        ingest_events(
            session, store, [event(InteractionType.EMAIL_CLICK, email="a@example.com")], source="api"
        )
        classify(session, account_id)
    with session_scope(db_url) as session:
        groups = contact_stats(session, account_id, SubscriptionFilter.SUBSCRIBED_UNKNOWN)["groups"]
        assert (groups["engaged"]["count"], groups["unengaged"]["count"]) == (2, 0)
        assert [
            (v["currency"], v["revenue"], v["orders"], v["customers"]) for v in groups["engaged"]["value"]
        ] == [("EUR", "14.50", 2, 2)]
        assert groups["unengaged"]["value"] == []
    with session_scope(db_url) as session:  # b@ folds into a@: one buyer with both orders
        a = session.scalar(select(Contact).where(Contact.email == "a@example.com"))
        b = session.scalar(select(Contact).where(Contact.email == "b@example.com"))
        assert a is not None
        assert b is not None
        merge(session, survivor=a, absorbed=b)
    with session_scope(db_url) as session:
        groups = contact_stats(session, account_id, SubscriptionFilter.SUBSCRIBED_UNKNOWN)["groups"]
        assert groups["engaged"]["count"] == 1
        assert [(v["revenue"], v["orders"], v["customers"]) for v in groups["engaged"]["value"]] == [
            ("14.50", 2, 1)
        ]
        _same(counted.fold(session, account_id, utcnow(), None), counted_afresh(session, account_id))


def test_deleting_an_account_deletes_what_was_counted_of_it(db_url: str) -> None:
    now = utcnow()
    with session_scope(db_url) as session:
        gone, kept = make_store(session).account_id, make_store(session).account_id
        for account_id in (gone, kept):
            for n in range(3):
                session.add(Contact(account_id=account_id, email=f"c{n}@example.com"))
    with session_scope(db_url) as session:
        first = session.scalar(select(func.min(Contact.id)).where(Contact.account_id == gone))
        for account_id in (gone, kept):
            buyer = session.scalar(select(func.min(Contact.id)).where(Contact.account_id == account_id))
            now_ = utcnow()
            session.add(
                ContactTotals(
                    contact_id=buyer,
                    currency="EUR",
                    account_id=account_id,
                    orders=1,
                    revenue_orders=1,
                    revenue=Decimal("5.00"),
                    first_order_at=now_,
                    last_order_at=now_,
                )
            )
        session.add(
            EngagementTransition(
                account_id=gone,
                contact_id=first,
                from_status=None,
                to_status=EngagementStatus.ENGAGED,
                reason="test",
            )
        )
    for account_id in (gone, kept):
        with session_scope(db_url) as session:
            counted.fold(session, account_id, now, now - timedelta(days=1))
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(StatsCountedMoney)) == 2  # one buyer each
        session.execute(delete(Account).where(Account.id == gone))
    with session_scope(db_url) as session:  # the account's trigger took its counted rows
        for model in (StatsCounted, StatsCountedMoney, StatsCountedMoves, StatsBase):
            left = select(func.count()).select_from(model).where(model.account_id == gone)
            assert session.scalar(left) == 0, model
        assert session.scalar(select(func.count()).select_from(StatsCounted)) == 3  # the other account's
        assert session.scalar(select(func.count()).select_from(StatsCountedMoney)) == 1
    with session_scope(db_url) as session:
        counted.forget_deleted_accounts(session)  # the hourly snapshot job's first step: the notes
    with session_scope(db_url) as session:
        assert (
            session.scalar(select(func.count()).select_from(StatsDirty).where(StatsDirty.account_id == gone))
            == 0
        )
