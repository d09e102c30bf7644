"""Set-based writes and key lookups whose statement does not grow with the number of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from integration.store import get_engine, session_scope
from integration.store.bulk import CHUNK_ROWS, among, insert_rows, keyed, parts
from integration.store.models import Contact, Order, Store, StoreCustomer, table_of
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


def _link_rows(store_id: int, contact_id: int, external_ids: list[str]) -> list[dict[str, object]]:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    return [
        {"store_id": store_id, "contact_id": contact_id, "external_id": external_id, "linked_at": now}
        for external_id in external_ids
    ]


def _store_and_contact(session: Session, store: Store | None = None) -> tuple[Store, Contact]:
    """A store (a new one of the same account when `store` is given) and a contact to link."""
    made = make_store(session, account_id=store.account_id if store else None)
    contact = Contact(account_id=made.account_id, email=f"a{made.id}@example.com")
    session.add(contact)
    session.flush()
    return made, contact


def _found(session: Session, store_id: int, values: list[str], lock: bool = False) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    for part in parts(session, values):
        rows.extend(
            (external_id, link_id)
            for external_id, link_id in session.execute(
                keyed(
                    session,
                    [StoreCustomer.external_id, StoreCustomer.id],
                    StoreCustomer.external_id,
                    part,
                    StoreCustomer.store_id == store_id,
                    lock=lock,
                )
            )
        )
    return sorted(rows)


@pytest.mark.parametrize("lock", [False, True])
def test_keyed_finds_the_rows_of_exactly_the_given_keys_in_their_scope(db_url: str, lock: bool) -> None:
    awkward = ['quote"d', "back\\slash", "comma,brace}", "zażółć", " spaced "]
    with session_scope(db_url) as session:
        store, contact = _store_and_contact(session)
        other, _ = _store_and_contact(session, store)
        ours = [f"c{n}" for n in range(1200)] + awkward
        insert_rows(session, table_of(StoreCustomer), _link_rows(store.id, contact.id, ours))
        insert_rows(session, table_of(StoreCustomer), _link_rows(other.id, contact.id, ["c1", "only-there"]))
        ids = {
            (store_id, external_id): link_id
            for store_id, external_id, link_id in session.execute(
                select(StoreCustomer.store_id, StoreCustomer.external_id, StoreCustomer.id)
            )
        }
        # More keys than one SQLite statement takes, missing ones, another store's, repeated ones.
        wanted = [*ours[:1100], *awkward, "missing", "only-there", "c5"]
        expected = sorted((e, ids[store.id, e]) for e in [*ours[:1100], *awkward])
        assert sorted(set(_found(session, store.id, wanted, lock=lock))) == expected
        assert _found(session, store.id, []) == []
        assert _found(session, other.id, ["c1", "c2"]) == [("c1", ids[other.id, "c1"])]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the planner's estimates
def test_keyed_probes_the_index_however_stale_the_statistics(db_url: str) -> None:
    """A store whose rows came after the table's last ANALYZE (a new store on a busy host, a first
    import) is one the planner takes for a few rows: `key = ANY(...)` may then read all of the
    store's rows for every lookup (PostgreSQL 15 does; 18 does not). `keyed` reads one index entry
    a key whatever the estimate."""
    with session_scope(db_url) as session:
        session.execute(text("ALTER TABLE store_customers SET (autovacuum_enabled = false)"))
    try:
        with session_scope(db_url) as session:
            busy, contact = _store_and_contact(session)
            new, _ = _store_and_contact(session, busy)
            new_id = new.id
            ids = [f"b{n}" for n in range(3000)]
            insert_rows(session, table_of(StoreCustomer), _link_rows(busy.id, contact.id, ids))
        with session_scope(db_url) as session:
            session.execute(text("ANALYZE store_customers"))  # every row the busy store's
        with session_scope(db_url) as session:
            insert_rows(
                session,
                table_of(StoreCustomer),
                _link_rows(new_id, contact.id, [f"n{n}" for n in range(30_000)]),
            )
        with session_scope(db_url) as session:
            wanted = [f"n{n}" for n in range(20_000, 20_200)]
            statement = keyed(
                session,
                [StoreCustomer.external_id, StoreCustomer.id],
                StoreCustomer.external_id,
                wanted,
                StoreCustomer.store_id == new_id,
            )
            compiled = statement.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
            plan = (
                session.connection()
                .exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params)
                .scalar_one()
            )
            assert len(session.execute(statement).all()) == len(wanted)
    finally:
        with session_scope(db_url) as session:
            session.execute(text("ALTER TABLE store_customers RESET (autovacuum_enabled)"))

    def nodes(node: dict[str, object]) -> list[dict[str, object]]:
        children = node.get("Plans", [])
        assert isinstance(children, list)
        return [node, *(n for child in children for n in nodes(child))]

    read = nodes(plan[0]["Plan"])
    # Each probe reads at most its own row; no node reads the store's 30,000 rows.
    assert max(int(n["Actual Rows"]) for n in read) <= len(wanted)  # type: ignore[call-overload]
    assert sum(int(n.get("Rows Removed by Filter", 0)) for n in read) == 0  # type: ignore[call-overload]
    assert any(n.get("Index Name") == "uq_store_customers_store_id_external_id" for n in read)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite takes no row locks
def test_keyed_with_lock_holds_the_rows_it_found_until_the_transaction_ends(db_url: str) -> None:
    with session_scope(db_url) as session:
        store, contact = _store_and_contact(session)
        insert_rows(session, table_of(StoreCustomer), _link_rows(store.id, contact.id, ["a", "b", "c"]))
        store_id = store.id
    engine = get_engine(db_url)

    def taken(external_id: str) -> bool:
        """Whether another transaction holds the link's row."""
        with engine.connect() as other:
            try:
                other.execute(
                    select(StoreCustomer.id)
                    .where(StoreCustomer.store_id == store_id, StoreCustomer.external_id == external_id)
                    .with_for_update(nowait=True)
                )
                return False
            except OperationalError as exc:
                return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available
            finally:
                other.rollback()

    with session_scope(db_url) as session:
        assert [e for e, _ in _found(session, store_id, ["c", "a", "missing"], lock=True)] == ["a", "c"]
        assert (taken("a"), taken("b"), taken("c")) == (True, False, True)
    assert (taken("a"), taken("c")) == (False, False)
