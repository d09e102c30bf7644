"""Customers become one contact per account and email; the newest version of a customer wins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from integration.ingest import ingest_customers
from integration.store import session_scope
from integration.store.models import Contact, StoreCustomer, SubscriptionStatus
from tests.support.builders import NOW, customer, make_store


def test_one_contact_per_normalized_email_across_the_account_stores(db_url: str) -> None:
    with session_scope(db_url) as session:
        eu = make_store(session, "EUR")
        us = make_store(session, "USD", account_id=eu.account_id)
        ingest_customers(session, eu, [customer("1", " Ann.Lee@Example.COM ")])
        outcome = ingest_customers(session, us, [customer("900", "ann.lee@example.com")])
        assert outcome.written == 1
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        links = session.execute(
            select(StoreCustomer.external_id).order_by(StoreCustomer.external_id)
        ).scalars()
        assert list(links) == ["1", "900"]
        assert session.scalar(select(Contact.email)) == "ann.lee@example.com"


def test_another_account_gets_its_own_contact_for_the_same_email(db_url: str) -> None:
    with session_scope(db_url) as session:
        first, second = make_store(session), make_store(session)
        assert first.account_id != second.account_id
        ingest_customers(session, first, [customer("1", "ann@example.com")])
        ingest_customers(session, second, [customer("1", "ann@example.com")])
        assert session.scalar(select(func.count()).select_from(Contact)) == 2


def test_an_older_version_never_overwrites_a_newer_one(db_url: str) -> None:
    newer = customer("1", "ann@example.com", updated=NOW, first_name="Anna", phone="+420 600 000 001")
    older = customer("1", "ann@example.com", updated=NOW - timedelta(hours=1), first_name="Ann")
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(session, store, [newer])
        outcome = ingest_customers(session, store, [older])
        assert (outcome.written, outcome.unchanged, outcome.duplicate) == (0, 1, 0)
        contact = session.scalars(select(Contact)).one()
        assert contact.first_name == "Anna"


def test_the_same_batch_twice_changes_nothing(db_url: str) -> None:
    batch = [customer(str(i), f"c{i}@example.com", first_name=f"C{i}") for i in range(5)]
    with session_scope(db_url) as session:
        store = make_store(session)
        assert ingest_customers(session, store, batch).written == 5
        again = ingest_customers(session, store, batch)
        assert (again.written, again.unchanged, again.duplicate) == (0, 0, 5)
        assert session.scalar(select(func.count()).select_from(Contact)) == 5


def test_the_newest_record_of_a_batch_wins_whatever_its_position(db_url: str) -> None:
    batch = [
        customer("1", "ann@example.com", updated=NOW, last_name="Newest"),
        customer("1", "ann@example.com", updated=NOW - timedelta(days=1), last_name="Older"),
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(session, store, batch)
        assert session.scalar(select(Contact.last_name)) == "Newest"


def test_consent_follows_the_newest_change(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(
            session,
            store,
            [customer("1", "a@example.com", subscription_status=SubscriptionStatus.SUBSCRIBED)],
        )
        ingest_customers(
            session,
            store,
            [
                customer(
                    "1",
                    "a@example.com",
                    updated=NOW + timedelta(days=1),
                    subscription_status=SubscriptionStatus.UNSUBSCRIBED,
                )
            ],
        )
        contact = session.scalars(select(Contact)).one()
        assert contact.subscription_status == SubscriptionStatus.UNSUBSCRIBED
        assert contact.subscription_changed_at == NOW + timedelta(days=1)


def test_a_customer_without_email_or_link_is_reported_not_stored(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        outcome = ingest_customers(session, store, [customer("1", None), customer("2", "b@example.com")])
        assert outcome.written == 1
        assert outcome.skipped == [
            {"id": "1", "field": "email", "reason": "no valid email and no known customer"}
        ]


def test_a_linked_customer_keeps_its_contact_when_the_email_changes(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(session, store, [customer("1", "old@example.com")])
        ingest_customers(
            session, store, [customer("1", "new@example.com", updated=NOW + timedelta(minutes=1))]
        )
        contacts = session.scalars(select(Contact)).all()
        assert [c.email for c in contacts] == ["new@example.com"]


def test_tags_are_replaced_and_absent_tags_kept(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(session, store, [customer("1", "a@example.com", tags=["vip", "vip", "b2b"])])
        ingest_customers(session, store, [customer("1", "a@example.com", updated=NOW + timedelta(seconds=1))])
        assert session.scalar(select(Contact.tags)) == ["b2b", "vip"]
