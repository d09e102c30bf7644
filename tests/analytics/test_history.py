"""Daily snapshots and the 30-day change: the movements explain the change, on generated histories."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from integration.analytics import history
from integration.analytics.stats import SubscriptionFilter, contact_stats
from integration.contacts.engagement import classify
from integration.ingest import ingest_customers, ingest_events
from integration.store import session_scope
from integration.store.models import Contact, InteractionType, SubscriptionStatus
from integration.store.types import utcnow
from tests.support.builders import customer, event, make_store

T = InteractionType
STATUSES = [SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.UNKNOWN, SubscriptionStatus.UNSUBSCRIBED]


def _history(db_url: str, seed: int) -> int:
    """Contacts in every state, a snapshot, then a month of random changes; return the account id."""
    rng = random.Random(seed)
    start = utcnow() - timedelta(hours=2)
    with session_scope(db_url) as session:
        store = make_store(session)
        people = [f"p{i}@example.com" for i in range(40)]
        ingest_customers(
            session,
            store,
            [
                customer(
                    str(i),
                    email,
                    updated=start - timedelta(days=1),
                    subscription_status=rng.choice(STATUSES),
                    subscription_changed_at=start - timedelta(days=1),
                )
                for i, email in enumerate(people)
            ],
        )
        for email in people:
            if rng.random() < 0.5:
                at = start - timedelta(days=rng.randint(1, 170))
                ingest_events(session, store, [event(T.PRODUCT_VIEW, at=at, email=email)], source="api")
        # Logs and snapshots are stamped when storepulse applies things: real time, in order.
        classify(session, store.account_id, now=utcnow())
        history.take_snapshot(session, utcnow())

        later = utcnow()
        for i in range(25):
            email, roll = rng.choice(people + [f"new{i}@example.com"]), rng.random()
            kind = (
                T.EMAIL_CLICK
                if roll < 0.3
                else T.SPAM_COMPLAINT
                if roll < 0.4
                else T.UNSUBSCRIBE
                if roll < 0.6
                else T.SUBSCRIBE
                if roll < 0.8
                else None
            )
            if kind is None:
                session.execute(update(Contact).where(Contact.email == email).values(deleted_at=later))
            else:
                ingest_events(session, store, [event(kind, at=later, email=email)], source="api")
        classify(session, store.account_id, now=utcnow())
        return store.account_id


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("subscription", list(SubscriptionFilter))
def test_the_movements_explain_the_change(db_url: str, seed: int, subscription: SubscriptionFilter) -> None:
    account_id = _history(db_url, seed)
    with session_scope(db_url) as session:
        stats = contact_stats(session, account_id, subscription, now=utcnow())
    moved = 0
    for name, group in stats["groups"].items():
        change = group["change_30d"]
        assert change is not None, name
        explained = (
            change["new"] + change["moved_in"] - change["moved_out"] - change["unsubscribed_or_deleted"]
        )
        assert group["count"] - change["count_then"] == explained, (name, change)
        moved += change["new"] + change["moved_in"] + change["moved_out"] + change["unsubscribed_or_deleted"]
    assert moved > 0  # the history did move contacts


def test_a_spam_complaint_moves_an_engaged_contact_out_and_into_blocked(db_url: str) -> None:
    start = utcnow()
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(T.EMAIL_OPEN, at=start - timedelta(days=3), email="a@example.com"),
                event(T.EMAIL_OPEN, at=start - timedelta(days=3), email="b@example.com"),
            ],
            source="api",
        )
        classify(session, store.account_id, now=utcnow())
        assert history.take_snapshot(session, utcnow()) == 1
        assert history.take_snapshot(session, utcnow()) == 0  # once a day
        ingest_events(
            session,
            store,
            [
                event(T.SPAM_COMPLAINT, at=start, email="a@example.com"),
                event(T.PRODUCT_VIEW, at=start, email="new@example.com"),
            ],
            source="api",
        )
        classify(session, store.account_id, now=utcnow())
        groups = contact_stats(session, store.account_id, SubscriptionFilter.UNKNOWN)["groups"]
    engaged, blocked = groups["engaged"]["change_30d"], groups["blocked"]["change_30d"]
    assert (engaged["count_then"], groups["engaged"]["count"], engaged["percent_change"]) == (2, 2, "0.00")
    assert (engaged["new"], engaged["moved_out"]) == (1, 1)
    assert (blocked["count_then"], blocked["moved_in"], blocked["percent_change"]) == (0, 1, None)


def test_without_a_snapshot_there_is_no_change_yet(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(session, store, [event(T.EMAIL_OPEN, at=utcnow(), email="a@example.com")], source="api")
        classify(session, store.account_id)
        groups = contact_stats(session, store.account_id, SubscriptionFilter.SUBSCRIBED_UNKNOWN)["groups"]
        assert all(g["change_30d"] is None for g in groups.values())
        assert session.scalar(select(Contact.engagement_status)) is not None
