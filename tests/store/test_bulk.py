"""Set-based writes and key lookups whose statement does not grow with the number of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.store import session_scope
from integration.store.bulk import CHUNK_ROWS, among, insert_rows
from integration.store.models import Contact, Order, table_of
from tests.support.builders import make_store

WARSAW_SUMMER = timezone(timedelta(hours=2))


def _orders(store_id: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "store_id": store_id,
            "external_id": f"o-{n}",
            "name": None if n % 2 else f"#Zamówienie {n} „ą”",
            "created_at": datetime(2026, 6, 1, 12, tzinfo=WARSAW_SUMMER) + timedelta(minutes=n),
            "updated_at": datetime(2026, 6, 1, 10, tzinfo=UTC),
            "currency": "PLN",
            "total_price": Decimal("12345678.9012") if n == 0 else Decimal(n) / 100,
            "ingested_at": datetime(2026, 6, 2, tzinfo=UTC),
        }
        for n in range(count)
    ]


def test_insert_rows_writes_every_row_as_given_across_chunks(db_url: str) -> None:
    count = CHUNK_ROWS + 7  # two statements
    with session_scope(db_url) as session:
        store = make_store(session)
        rows = _orders(store.id, count)
        insert_rows(session, table_of(Order), rows)
        stored = {
            o.external_id: o for o in session.scalars(select(Order).where(Order.store_id == store.id)).all()
        }
    assert len(stored) == count
    first, second = stored["o-0"], stored["o-1"]
    assert first.total_price == Decimal("12345678.9012")  # no float on the way
    assert first.name == "#Zamówienie 0 „ą”"
    assert second.name is None
    assert first.created_at == datetime(2026, 6, 1, 10, tzinfo=UTC)  # the zone kept, stored in UTC
    assert stored[f"o-{count - 1}"].total_price == Decimal(count - 1) / 100


def test_insert_rows_of_nothing_writes_nothing(db_url: str) -> None:
    with session_scope(db_url) as session:
        insert_rows(session, table_of(Order), [])
        assert session.scalars(select(Order)).all() == []


def _emails(session: Session, values: list[str]) -> list[str]:
    return sorted(session.scalars(select(Contact.email).where(among(session, Contact.email, values))))


def test_among_matches_exactly_the_listed_keys(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        for email in ("a@example.com", "b@example.com", "ą@example.com"):
            session.add(Contact(account_id=store.account_id, email=email))
        session.flush()
        ids = sorted(session.scalars(select(Contact.id)))
        assert _emails(session, ["ą@example.com", "b@example.com", "nobody@example.com"]) == [
            "b@example.com",
            "ą@example.com",
        ]
        assert _emails(session, []) == []
        many = [f"x{n}@example.com" for n in range(3000)] + ["a@example.com"]
        assert _emails(session, many) == ["a@example.com"]
        found = session.scalars(select(Contact.id).where(among(session, Contact.id, ids[:2]))).all()
        assert sorted(found) == ids[:2]


def test_among_keeps_one_statement_text_whatever_the_number_of_keys(db_url: str) -> None:
    """On PostgreSQL the keys travel as one array, so the driver parses a statement of fixed size."""
    with session_scope(db_url) as session:
        dialect = session.get_bind().dialect
        texts = {
            str(
                select(Contact.id)
                .where(among(session, Contact.id, list(range(n))))
                .compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            )
            for n in (1, 10, 2000)
        }
        assert len(texts) == (1 if dialect.name == "postgresql" else 3)
