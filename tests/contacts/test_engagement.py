"""Classification: the window's edge, blocking, sibling stores, expiry and the transition log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from integration.contacts import engagement
from integration.ingest import ingest_events, ingest_orders
from integration.store import session_scope
from integration.store.models import Account, Contact, EngagementStatus, EngagementTransition, InteractionType
from tests.support.builders import NOW, event, make_store, order

E = EngagementStatus
WINDOW = timedelta(days=180)


def _statuses(session) -> dict[str, EngagementStatus | None]:
    return dict(session.execute(select(Contact.email, Contact.engagement_status)).all())


def test_an_interaction_exactly_at_the_window_edge_counts_and_one_second_earlier_does_not(
    db_url: str,
) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(InteractionType.EMAIL_OPEN, at=NOW - WINDOW, email="edge@example.com"),
                event(
                    InteractionType.EMAIL_OPEN,
                    at=NOW - WINDOW - timedelta(seconds=1),
                    email="out@example.com",
                ),
            ],
            source="api",
        )
        engagement.classify(session, store.account_id, now=NOW)
        assert _statuses(session) == {"edge@example.com": E.ENGAGED, "out@example.com": E.UNENGAGED}


def test_blocked_wins_over_engaged_and_the_change_is_logged(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session, store, [event(InteractionType.EMAIL_CLICK, email="a@example.com")], source="api"
        )
        engagement.classify(session, store.account_id, now=NOW)
        ingest_events(
            session,
            store,
            [event(InteractionType.SPAM_COMPLAINT, at=NOW + timedelta(hours=1), email="a@example.com")],
            source="api",
        )
        assert engagement.classify(session, store.account_id, now=NOW + timedelta(hours=1)) == 1
        contact = session.scalars(select(Contact)).one()
        assert (contact.engagement_status, contact.engagement_reason) == (E.BLOCKED, "spam_complaint")
        log = session.execute(
            select(
                EngagementTransition.from_status, EngagementTransition.to_status, EngagementTransition.reason
            ).order_by(EngagementTransition.id)
        ).all()
        assert log == [(None, E.ENGAGED, "email_click"), (E.ENGAGED, E.BLOCKED, "spam_complaint")]


def test_engagement_in_a_sibling_store_counts_from_the_first_day(db_url: str) -> None:
    with session_scope(db_url) as session:
        eu = make_store(session, "EUR")
        us = make_store(session, "USD", account_id=eu.account_id)
        ingest_orders(session, eu, [order("1", created=NOW - timedelta(days=3), email="a@example.com")])
        ingest_events(session, us, [event(InteractionType.SOFT_BOUNCE, email="A@example.com")], source="api")
        engagement.classify(session, eu.account_id, now=NOW)
        assert _statuses(session) == {"a@example.com": E.ENGAGED}


def test_expiry_finds_only_engaged_contacts_that_left_the_window(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(InteractionType.PRODUCT_VIEW, at=NOW - timedelta(days=100), email="old@example.com"),
                event(InteractionType.PRODUCT_VIEW, at=NOW - timedelta(days=10), email="new@example.com"),
            ],
            source="api",
        )
        engagement.classify(session, store.account_id, now=NOW)
        later = NOW + timedelta(days=90)
        assert engagement.classify(session, store.account_id, now=later, only_expired=True) == 1
        assert _statuses(session) == {"old@example.com": E.UNENGAGED, "new@example.com": E.ENGAGED}
        expired = session.scalars(select(Contact).where(Contact.email == "old@example.com")).one()
        assert (expired.engagement_reason, expired.engagement_since) == ("window_expired", later)


def test_changing_the_time_frame_reclassifies_everyone(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [event(InteractionType.ADD_TO_CART, at=NOW - timedelta(days=60), email="a@example.com")],
            source="api",
        )
        engagement.classify(session, store.account_id, now=NOW)
        engagement.set_window(session, store.account_id, 30)
        assert engagement.classify(session, store.account_id, now=NOW) == 1
        assert _statuses(session) == {"a@example.com": E.UNENGAGED}
        assert session.get(Account, store.account_id).classified_at == NOW


@pytest.mark.parametrize("days", [6, 731])
def test_the_time_frame_is_bounded(db_url: str, days: int) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        with pytest.raises(ValueError, match="7 to 730"):
            engagement.set_window(session, store.account_id, days)


def test_a_contact_with_no_interaction_is_unengaged_since_first_seen(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [event(InteractionType.SOFT_BOUNCE, at=NOW - timedelta(days=2), email="a@example.com")],
            source="api",
        )
        engagement.classify(session, store.account_id, now=NOW)
        contact = session.scalars(select(Contact)).one()
        assert (contact.engagement_status, contact.engagement_reason) == (E.UNENGAGED, "no_interaction")
        assert contact.engagement_since == NOW - timedelta(days=2)


def test_two_transactions_classifying_one_account_do_not_wait_for_each_other(postgres_url: str) -> None:
    """Workers storing one account's records at once classify their own contacts side by side."""
    with session_scope(postgres_url) as session:
        store = make_store(session)
        ingest_events(
            session,
            store,
            [
                event(InteractionType.EMAIL_OPEN, at=NOW - timedelta(days=1), email="a@example.com"),
                event(InteractionType.EMAIL_OPEN, at=NOW - timedelta(days=1), email="b@example.com"),
            ],
            source="api",
        )
        ids = dict(session.execute(select(Contact.email, Contact.id)).all())
        account_id = store.account_id
    with session_scope(postgres_url) as first, session_scope(postgres_url) as second:
        assert engagement.classify(first, account_id, [ids["a@example.com"]], now=NOW) == 1
        first.flush()  # the first transaction stays open, holding what it wrote
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert engagement.classify(second, account_id, [ids["b@example.com"]], now=NOW) == 1
        second.flush()  # waited on the first transaction's account row before
    with session_scope(postgres_url) as session:
        assert _statuses(session) == {"a@example.com": E.ENGAGED, "b@example.com": E.ENGAGED}
