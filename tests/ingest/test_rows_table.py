"""A batch's rows as one derived table: the values come back as their columns store them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, String, select, update

from integration.store import session_scope
from integration.store.bulk import among, rows_table
from integration.store.models import Contact, Store, table_of
from integration.store.types import JSONDocument, UTCDateTime
from tests.support.builders import make_store

COLUMNS = {
    "id": BigInteger(),
    "name": String(),
    "at": UTCDateTime(),
    "tags": JSONDocument,
    "amount": Numeric(12, 2),
}
ROWS = [
    {
        "id": 1,
        "name": 'Ann "O\'Neil" Dvořák 😀',
        "at": datetime(2026, 3, 29, 1, 30, 0, 250_001, tzinfo=timezone(timedelta(hours=2))),
        "tags": ["vip", "čeština"],
        "amount": Decimal("1234567890.10"),  # beyond a float's cents
    },
    {"id": 9_007_199_254_740_993, "name": None, "at": None, "tags": None, "amount": None},  # beyond a double
]


def test_rows_come_back_typed_and_unchanged(db_url: str) -> None:
    with session_scope(db_url) as session:
        table = rows_table(session, "v", COLUMNS, ROWS)
        back = session.execute(select(table).order_by(table.c.id)).all()
        assert [tuple(row) for row in back] == [
            (
                1,
                'Ann "O\'Neil" Dvořák 😀',
                datetime(2026, 3, 28, 23, 30, 0, 250_001, tzinfo=UTC),
                ["vip", "čeština"],
                Decimal("1234567890.10"),
            ),
            (9_007_199_254_740_993, None, None, None, None),
        ]
        assert session.execute(select(rows_table(session, "none", COLUMNS, []))).all() == []


def test_a_time_joined_from_the_rows_equals_the_same_time_stored(db_url: str) -> None:
    """Comparisons with stored times are exact (SQLite stores them as text in one format)."""
    at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with session_scope(db_url) as session:
        store = make_store(session)
        contact = Contact(account_id=store.account_id, email="a@example.com", last_interaction_at=at)
        session.add(contact)
        session.flush()
        table = table_of(Contact)
        for moment, expected in ((at, 0), (at + timedelta(microseconds=1), 1)):
            newer = rows_table(
                session,
                "newer",
                {"id": BigInteger(), "at": UTCDateTime()},
                [{"id": contact.id, "at": moment}],
            )
            changed = session.execute(
                update(table)
                .where(table.c.id == newer.c.id, table.c.last_interaction_at < newer.c.at)
                .values(last_interaction_at=newer.c.at)
            )
            assert changed.rowcount == expected


def test_a_key_list_matches_whole_values_only(db_url: str) -> None:
    """A value longer than its column never matches a stored value equal to its beginning."""
    with session_scope(db_url) as session:
        store = make_store(session)  # its currency: a column of three characters

        def found(values: list[str]) -> list[int]:
            return list(session.scalars(select(Store.id).where(among(session, Store.currency, values))))

        assert found(["EURO", "EUR "]) == []
        assert found(["EUR"]) == [store.id]


AWKWARD = [
    'a"b',
    "back\\slash",
    '\\"',
    "{braces}",
    "comma,here",
    "NULL",
    "",
    " spaced ",
    "zażółć",
    "new\nline",
]


def test_a_key_list_of_awkward_strings_and_numbers_finds_exactly_those(db_url: str) -> None:
    """Quotes, backslashes, braces, commas, the word NULL, empty and padded strings, non-ASCII
    letters and line breaks: each value finds its own row and no other; so do ids, and a list
    of values that is neither (None among strings) still works."""
    with session_scope(db_url) as session:
        store = make_store(session)
        ids = {}
        for i, name in enumerate(AWKWARD):
            contact = Contact(account_id=store.account_id, email=f"c{i}@example.com", first_name=name)
            session.add(contact)
            session.flush()
            ids[name] = contact.id

        def found(column: Any, values: list[Any]) -> set[int]:
            mine = Contact.account_id == store.account_id
            return set(session.scalars(select(Contact.id).where(mine, among(session, column, values))))

        for name in AWKWARD:
            assert found(Contact.first_name, [name]) == {ids[name]}, name
        assert found(Contact.first_name, AWKWARD) == set(ids.values())
        assert found(Contact.first_name, ['a"', "back", "\\", "braces", "comma", "null"]) == set()
        assert found(Contact.first_name, ["NULL", None]) == {ids["NULL"]}
        assert found(Contact.id, [ids["NULL"], ids[""], -1]) == {ids["NULL"], ids[""]}
        assert found(Contact.id, []) == set()
