"""Storing a batch record by record when storing it whole fails."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from integration.contract import CustomerRecord, Outcome
from integration.ingest import ingest_customers
from integration.ingest.isolation import ingest_isolated
from integration.store import session_scope
from integration.store.models import Contact
from tests.support.builders import customer, make_store


def test_a_record_the_database_refuses_is_reported_by_index_and_the_others_are_stored(db_url: str) -> None:
    # Longer than the column: PostgreSQL refuses the statement, SQLite stores it.
    records = [
        customer("1", "ann@example.com"),
        customer("2", "bob@example.com", first_name="x" * 5000),
        customer("3", "cy@example.com"),
    ]
    with session_scope(db_url) as session:
        store = make_store(session)
        outcome = ingest_isolated(session, lambda part: ingest_customers(session, store, part), records)
        emails = set(session.scalars(select(Contact.email)))
    assert {"ann@example.com", "cy@example.com"} <= emails
    if db_url.startswith("postgresql"):
        assert outcome.written == 2
        assert outcome.skipped == [{"index": 1, "reason": "could not be stored (DataError)"}]
        assert "bob@example.com" not in emails
    else:
        assert (outcome.written, outcome.skipped) == (3, [])


def test_a_lost_connection_is_raised_for_the_delivery_to_be_tried_again(db_url: str) -> None:
    def unreachable(part: Sequence[CustomerRecord]) -> Outcome:
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    with session_scope(db_url) as session, pytest.raises(OperationalError):
        ingest_isolated(
            session, unreachable, [customer("1", "ann@example.com"), customer("2", "b@example.com")]
        )
