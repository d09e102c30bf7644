"""The schema: migrations build it on both databases, agree with the models, and re-run as no-ops."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import StatementError

from integration.ingest import ingest_orders
from integration.store import session_scope
from integration.store.db import current_revision, get_engine, head_revision, upgrade
from integration.store.models import Base, Order
from tests.factories import make_store, order


def test_upgrade_builds_every_table_and_a_second_run_changes_nothing(db_url: str) -> None:
    assert current_revision(db_url) == head_revision()
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert upgrade(db_url) == (head_revision(), head_revision())


def test_models_and_migrations_agree(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert differences == []


def test_upgrade_of_an_empty_database_reports_the_step(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert upgrade(url) == (None, head_revision())


def test_times_are_stored_as_utc_and_come_back_aware(db_url: str) -> None:
    prague_evening = datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", created=prague_evening, email="a@example.com")])
    with session_scope(db_url) as session:
        stored = session.scalar(select(Order.created_at))
    assert stored == prague_evening
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 21  # 23:30 at +02:00 is 21:30 UTC


def test_a_naive_time_is_refused(db_url: str) -> None:
    naive = order("1", created=datetime(2026, 1, 1), email="a@example.com")  # noqa: DTZ001
    with session_scope(db_url) as session:
        store = make_store(session)
        # Raised where the time is first converted: by SQLAlchemy for a bound value, or by the batch's rows.
        with pytest.raises((StatementError, ValueError), match="naive datetime"):
            ingest_orders(session, store, [naive])


def test_money_keeps_its_exact_decimal_value(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session, currency="KWD")
        ingest_orders(
            session, store, [order("1", email="a@example.com", currency="KWD", total_price="1234567.125")]
        )
    with session_scope(db_url) as session:
        stored = session.scalar(select(Order.total_price))
    assert stored == Decimal("1234567.125")
