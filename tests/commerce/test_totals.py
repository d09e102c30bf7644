"""Each buyer's orders per currency, kept current as orders arrive, change, move and go away."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import delete, func, select, text

from integration.commerce import totals
from integration.contacts import changes as contacts
from integration.ingest import ingest_orders
from integration.ingest.removals import delete_orders
from integration.store import session_scope
from integration.store.db import alembic_config, get_engine, upgrade
from integration.store.models import Buyer, Contact, ContactTotals, Order, StatsDirty
from tests.support.builders import NOW, make_store, order


def _totals(session: object) -> dict[tuple[str, str], tuple[int, int, Decimal, object, object]]:
    rows = session.execute(  # type: ignore[attr-defined]
        select(Contact.email, ContactTotals).join(ContactTotals, ContactTotals.contact_id == Contact.id)
    ).all()
    return {
        (email.split("@")[0], t.currency): (
            t.orders,
            t.revenue_orders,
            Decimal(t.revenue).quantize(Decimal("0.01")),
            t.first_order_at,
            t.last_order_at,
        )
        for email, t in rows
    }


def _buyers(session: object) -> dict[str, tuple[int, object, str, Decimal]]:
    rows = session.execute(  # type: ignore[attr-defined]
        select(Contact.email, Buyer).join(Buyer, Buyer.contact_id == Contact.id)
    ).all()
    return {
        email.split("@")[0]: (
            b.orders,
            b.last_order_at,
            b.currency,
            Decimal(b.revenue).quantize(Decimal("0.01")),
        )
        for email, b in rows
    }


def test_totals_follow_new_cancelled_refunded_and_deleted_orders(db_url: str) -> None:
    day = timedelta(days=1)
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(
            session,
            store,
            [
                order("1", NOW - 3 * day, email="ann@example.com", total_price="10.00"),
                order("2", NOW - 2 * day, email="ann@example.com", total_price="20.00"),
                order(
                    "3", NOW - day, email="ann@example.com", total_price="5.50", financial_status="refunded"
                ),
                order("4", NOW, email="ann@example.com", total_price="7.00", currency="USD"),
                order("5", NOW, email="bob@example.com", total_price="1.00", financial_status="voided"),
            ],
        )
        assert _totals(session) == {
            # The refunded order is placed (it counts as an order) but is no revenue.
            ("ann", "EUR"): (3, 2, Decimal("30.00"), NOW - 3 * day, NOW - day),
            ("ann", "USD"): (1, 1, Decimal("7.00"), NOW, NOW),
            # A voided order is not placed: Bob has no totals at all.
        }
        # As a buyer: every order counts, money in the currency of most orders.
        assert _buyers(session) == {"ann": (4, NOW, "EUR", Decimal("30.00"))}

        # A newer version cancels the newest EUR order; an older version of order 1 changes nothing.
        ingest_orders(
            session,
            store,
            [
                order("3", NOW - day, NOW + day, email="ann@example.com", cancelled_at=NOW + day),
                order("1", NOW - 3 * day, NOW - 4 * day, email="ann@example.com", total_price="99.00"),
            ],
        )
        assert _totals(session)[("ann", "EUR")] == (2, 2, Decimal("30.00"), NOW - 3 * day, NOW - 2 * day)
        ingest_orders(session, store, [order("6", NOW, email="ann@example.com", currency="USD")])
        # Two orders in each currency: the alphabetically first is the main one.
        assert _buyers(session) == {"ann": (4, NOW, "EUR", Decimal("30.00"))}
        ingest_orders(
            session, store, [order("7", NOW, email="ann@example.com", currency="USD", total_price="1")]
        )
        assert _buyers(session) == {"ann": (5, NOW, "USD", Decimal("37.90"))}

        delete_orders(session, store, ["4", "6", "7"], NOW + day)
        assert ("ann", "USD") not in _totals(session)
        assert _buyers(session) == {"ann": (2, NOW - 2 * day, "EUR", Decimal("30.00"))}
        delete_orders(session, store, ["1", "2"], NOW + day)
        assert _totals(session) == {}
        assert _buyers(session) == {}


def test_an_order_that_moves_to_another_contact_leaves_the_former_one(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", NOW - timedelta(days=5), email="ann@example.com")])
        # The merchant corrects the order's customer.
        ingest_orders(session, store, [order("1", NOW - timedelta(days=5), NOW, email="bob@example.com")])
        assert set(_totals(session)) == {("bob", "EUR")}
        ann = session.scalar(select(Contact).where(Contact.email == "ann@example.com"))
        assert ann is not None
        # The order was Ann's only interaction: it is hers no longer.
        assert ann.last_interaction_at is None


def test_a_merged_contact_brings_its_orders_into_the_survivors_totals(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(
            session,
            store,
            [
                order("1", NOW - timedelta(days=9), email="ann@example.com", total_price="10.00"),
                order("2", NOW - timedelta(days=1), email="ann.new@example.com", total_price="4.00"),
            ],
        )
        survivor = contacts.change_email(session, store.account_id, "ann@example.com", "ann.new@example.com")
        session.flush()
        rows = session.execute(select(ContactTotals)).scalars().all()
        assert [(t.contact_id, t.orders, Decimal(t.revenue)) for t in rows] == [
            (survivor, 2, Decimal("14.00"))
        ]


def test_rebuild_agrees_with_the_upkeep(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        other = make_store(session, currency="USD", account_id=store.account_id)
        ingest_orders(
            session,
            store,
            [order(str(i), NOW - timedelta(hours=i), email=f"c{i % 7}@example.com") for i in range(40)],
        )
        ingest_orders(
            session,
            other,
            [order(str(i), NOW, email=f"c{i}@example.com", currency="USD") for i in range(3)],
        )
        kept, buyers = _totals(session), _buyers(session)
        assert totals.rebuild(session, store.account_id) == len(kept) == 10
        assert len(buyers) == 7
        assert (_totals(session), _buyers(session)) == (kept, buyers)


def test_the_migration_fills_the_totals_from_existing_orders(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(
            session,
            store,
            [
                order("1", NOW - timedelta(days=2), email="ann@example.com", total_price="10.00"),
                order("2", NOW, email="ann@example.com", total_price="3.00", financial_status="refunded"),
                order("3", NOW, email="bob@example.com", total_price="8.00", cancelled_at=NOW),
            ],
        )
        kept, buyers = _totals(session), _buyers(session)
    config = alembic_config(db_url)
    with get_engine(db_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    upgrade(db_url)
    with session_scope(db_url) as session:
        assert (
            _totals(session)
            == kept
            == {("ann", "EUR"): (2, 1, Decimal("10.00"), NOW - timedelta(days=2), NOW)}
        )
        assert _buyers(session) == buyers == {"ann": (2, NOW, "EUR", Decimal("10.00"))}


def _row_versions(session: Any) -> list[tuple[int, str]]:
    """Each kept row's version (PostgreSQL's xmin: it changes when a row is written again)."""
    return [
        (contact_id, str(version))
        for table in ("contact_totals", "buyers")
        for contact_id, version in session.execute(text(f"SELECT contact_id, xmin FROM {table}"))  # noqa: S608
    ]


def _notes(session: Any, contact_id: int) -> int:
    return int(session.scalar(select(func.count()).where(StatsDirty.contact_id == contact_id)) or 0)


def test_a_newer_version_that_changes_nothing_counted_leaves_the_rows_and_the_statistics_alone(
    db_url: str,
) -> None:
    created = NOW - timedelta(days=3)
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", created, email="ann@example.com", total_price="10.00")])
        ingest_orders(session, store, [order("2", created, email="bob@example.com", total_price="7.00")])
    with session_scope(db_url) as session:
        session.execute(delete(StatsDirty))  # as a statistics refresh takes the notes
        ann = session.scalar(select(Contact.id).where(Contact.email == "ann@example.com"))
        assert ann is not None
        kept, buyers = _totals(session), _buyers(session)
        postgresql = session.get_bind().dialect.name == "postgresql"
        versions = _row_versions(session) if postgresql else []

    def fulfilled(days_later: int, total: str) -> None:
        """Ann's order, fulfilled, in a version `days_later`."""
        version = order(
            "1", created, created + timedelta(days=days_later), email="ann@example.com", total_price=total,
            fulfillment_status="fulfilled",
        )  # fmt: skip
        with session_scope(db_url) as session:
            ingest_orders(session, store, [version])

    fulfilled(1, "10.00")  # the same total: nothing the totals count changed
    with session_scope(db_url) as session:
        assert session.scalar(select(Order.fulfillment_status).where(Order.external_id == "1")) == "fulfilled"
        assert (_totals(session), _buyers(session)) == (kept, buyers)
        assert _notes(session, ann) == 0
        if postgresql:
            assert _row_versions(session) == versions
    fulfilled(2, "12.00")  # the total corrected: only the revenue changes (still one revenue order)
    with session_scope(db_url) as session:
        assert _totals(session)[("ann", "EUR")][:3] == (1, 1, Decimal("12.00"))
        assert _buyers(session)["ann"][3] == Decimal("12.00")
        assert _notes(session, ann) > 0
        if postgresql:
            changed = {contact for contact, _ in set(_row_versions(session)) - set(versions)}
            assert changed == {ann}
