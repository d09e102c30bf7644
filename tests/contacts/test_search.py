"""Searching contacts by part of an email, an earlier email or a name: what matches, on both
databases, and that PostgreSQL can answer each part from its trigram indexes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from integration.accounts import create_account
from integration.contacts.lists import contains, list_contacts
from integration.store import get_engine, session_scope
from integration.store.models import Contact, ContactEmail

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(db_url: str) -> tuple[int, dict[str, int]]:
    ids = {}
    with session_scope(db_url) as session:
        account_id = create_account(session, "Search shop", "UTC").id
        other = create_account(session, "Other shop", "UTC").id
        for key, email, first, last in (
            ("anna", "anna.nowak@example.com", "Anna", "Nowak"),
            ("lukasz", "l.zielinski@example.pl", "Łukasz", "Zieliński"),
            ("moved", "new-address@example.org", None, None),
            ("percent", "100%_off@example.com", "Sale", None),
        ):
            contact = Contact(account_id=account_id, email=email, first_name=first, last_name=last)
            session.add(contact)
            session.flush()
            ids[key] = contact.id
        session.add(
            ContactEmail(account_id=account_id, contact_id=ids["moved"], email="Old.Address@Example.org")
        )
        stranger = Contact(account_id=other, email="anna.other@example.com", first_name="Anna")
        session.add(stranger)
        session.flush()
        session.add(ContactEmail(account_id=other, contact_id=stranger.id, email="zielinski@elsewhere.pl"))
    return account_id, ids


def _found(db_url: str, account_id: int, search: str) -> set[int]:
    with session_scope(db_url) as session:
        page = list_contacts(session, account_id, None, search=search, limit=50, now=NOW)
    return {c["id"] for c in page["contacts"]}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ANNA", {"anna"}),  # any case; another account's Anna is not found
        ("nowak anna", {"anna"}),  # every word, each in any field
        ("anna zieliński", set()),  # words of different contacts
        ("zieliński", {"lukasz"}),  # a name beyond ASCII, not another account's earlier email
        ("łukasz", {"lukasz"}),
        ("old.address", {"moved"}),  # an earlier email
        ("example", {"anna", "lukasz", "moved", "percent"}),
        ("100%_", {"percent"}),  # LIKE's wildcards match only themselves
        ("0%x", set()),
        ("_off", {"percent"}),
        ("no-one", set()),
    ],
)
def test_every_word_matches_part_of_an_email_an_earlier_email_or_a_name(
    db_url: str, people: tuple[int, dict[str, int]], search: str, expected: set[str]
) -> None:
    account_id, ids = people
    assert _found(db_url, account_id, search) == {ids[key] for key in expected}


def test_postgresql_has_a_trigram_index_for_each_lookup(postgres_url: str) -> None:
    """Migration 0025 built a trigram index on exactly the expression each lookup compares,
    `lower(column)`, which is what lets PostgreSQL use it for `LIKE '%word%'`. Which plan wins
    depends on the table's size: `bench.admin_pages` shows the search's plan at a million contacts."""
    with get_engine(postgres_url).connect() as connection:
        indexes = dict(
            connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%\\_trgm'")
            ).all()
        )
    assert set(indexes) == {
        "ix_contacts_email_trgm",
        "ix_contacts_first_name_trgm",
        "ix_contacts_last_name_trgm",
        "ix_contact_emails_email_trgm",
    }
    for name, column in (
        ("ix_contacts_email_trgm", Contact.email),
        ("ix_contacts_first_name_trgm", Contact.first_name),
        ("ix_contacts_last_name_trgm", Contact.last_name),
        ("ix_contact_emails_email_trgm", ContactEmail.email),
    ):
        assert (
            f"ON public.{column.class_.__tablename__} USING gin (lower(({column.key})::text) gin_trgm_ops)"
            in indexes[name]
        )
        compiled = str(contains(column, "x").compile(dialect=postgresql.dialect()))
        assert compiled.startswith(f"lower({column.class_.__tablename__}.{column.key}) LIKE "), compiled
