"""Two batches stored at once leave what one storer leaves, whatever the file repeats across batches."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from connectors.csv import importer
from connectors.csv.importer import import_csv
from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import (
    Buyer,
    Contact,
    ContactPeriodSpend,
    ContactTotals,
    EngagementTransition,
    Order,
    StoreCustomer,
    SubscriptionTransition,
)
from tests.support.builders import make_store

# SQLite lets one writer in at a time: its imports store one batch after another.
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

START = datetime(2026, 3, 1, tzinfo=UTC)


def _customers(rng: random.Random) -> bytes:
    """Customers in small batches: new ones, later versions of earlier rows (near and far), a
    customer's address moving to another customer's, shared and invalid addresses."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "first_name", "subscription_status", "tags", "updated_at"])
    for row in range(160):
        customer = rng.randrange(70) if rng.random() < 0.5 else 70 + row
        address = rng.choice([customer, customer, customer, rng.randrange(90)])
        email = "not-an-address" if rng.random() < 0.03 else f"p{address}@example.com"
        writer.writerow(
            [f"c{customer}", email, rng.choice(["Ann", "Bob", "Eva"]),
             rng.choice(["subscribed", "unsubscribed", "unknown"]), rng.choice(["", "vip", "vip,new"]),
             (START + timedelta(hours=rng.randrange(2000))).isoformat()]
        )  # fmt: skip
    return out.getvalue().encode()


def _orders(rng: random.Random) -> bytes:
    """Orders of a few buyers, several per batch and across batches, with later versions."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "customer_id", "email", "created_at", "updated_at", "financial_status", "currency",
                     "total_price", "line_item_title", "line_item_quantity", "line_item_price"])  # fmt: skip
    for row in range(140):
        number = rng.randrange(60) if rng.random() < 0.3 else 60 + row
        buyer = rng.randrange(25)
        created = START + timedelta(days=number % 200)
        updated = created + timedelta(hours=rng.randrange(100))
        total = Decimal(rng.randrange(500, 9000)) / 100
        writer.writerow(
            [f"o{number}", f"c{buyer}", f"p{buyer}@example.com", created.isoformat(), updated.isoformat(),
             rng.choice(["paid", "refunded", "voided"]), rng.choice(["EUR", "USD"]), total, "Scarf", 1, total]
        )  # fmt: skip
    return out.getvalue().encode()


def _state(session: Session, account_id: int) -> dict[str, Any]:
    """What the import left in an account, named by addresses and external ids (not row ids)."""
    email = {c.id: c.email for c in session.scalars(select(Contact).where(Contact.account_id == account_id))}
    mine = list(email)
    contacts = {
        (c.email, c.first_name, c.subscription_status, tuple(c.tags or ()), c.engagement_status,
         c.last_interaction_at, c.first_seen_at)
        for c in session.scalars(select(Contact).where(Contact.account_id == account_id))
    }  # fmt: skip
    links = {
        (link.external_id, email[link.contact_id], link.updated_at)
        for link in session.scalars(select(StoreCustomer).where(StoreCustomer.contact_id.in_(mine)))
    }
    # Counted, not collected: a change logged twice must show. Without their times: a change without
    # one of its own (a group, a status with no time given) is logged when it is made.
    logs = Counter(
        (model.__name__, email[t.contact_id], t.from_status, t.to_status)
        for model in (SubscriptionTransition, EngagementTransition)
        for t in session.scalars(select(model).where(model.contact_id.in_(mine)))
    )
    orders = {
        (o.external_id, email.get(o.contact_id) if o.contact_id else None, o.total_price, o.updated_at)
        for o in session.scalars(select(Order).where(Order.contact_id.in_(mine)))
    }
    kept = {
        (model.__name__, email[row.contact_id], *(getattr(row, c) for c in columns), _scope(row))
        for model, columns in (
            (ContactTotals, ("currency", "orders", "revenue_orders", "revenue", "last_order_at")),
            (Buyer, ("orders", "currency", "revenue")),
            (ContactPeriodSpend, ("period", "currency", "purchases", "revenue")),
        )
        for row in session.scalars(select(model).where(model.contact_id.in_(mine)))
    }
    return {"contacts": contacts, "links": links, "logs": logs, "orders": orders, "kept": kept}


def _scope(row: object) -> str:
    """A spend row's scope: the account's, or its store's (the two runs' stores differ)."""
    return "account" if getattr(row, "store_id", 0) == 0 else "store"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", ["customers", "orders"])
def test_batches_stored_at_once_leave_what_one_storer_leaves(
    db_url: str, kind: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_RECORDS", 6)
    raw = (_customers if kind == "customers" else _orders)(random.Random(seed))
    # Counted in memory the storer processes share with this one (they are forked from it, with
    # the function below in place of the storing step).
    shared = multiprocessing.get_context("fork")
    lock = shared.Lock()
    now, most, elsewhere = shared.Value("i", 0), shared.Value("i", 0), shared.Value("i", 0)
    store_once = importer._store_once
    importing = os.getpid()

    def counted(*args: Any) -> Any:
        with lock:
            now.value += 1
            most.value = max(most.value, now.value)
            elsewhere.value += os.getpid() != importing
        try:
            return store_once(*args)
        finally:
            with lock:
                now.value -= 1

    monkeypatch.setattr(importer, "_store_once", counted)
    results = []
    for storers in (1, 2):
        monkeypatch.setattr(importer, "STORERS", storers)
        most.value = elsewhere.value = 0
        with session_scope(db_url) as session:
            store = make_store(session)
            store_id, account_id = store.id, store.account_id
        report = import_csv(db_url, store_id, kind, io.BytesIO(raw))
        assert most.value == storers  # the second run did store two batches at once
        # One storer is a thread of this process; two are processes of their own (on Linux).
        assert bool(elsewhere.value) == (storers == 2 and importer.STORE_IN_PROCESSES)
        with session_scope(db_url) as session:
            counts = (report.written, report.unchanged, report.failed, report.errors)
            results.append((counts, _state(session, account_id)))
    assert results[0] == results[1]
    assert results[0][0][0] > 50


def test_a_batch_that_meets_another_in_a_deadlock_is_stored_again(db_url: str) -> None:
    # The database fails the first batch's link insert as it fails one of two deadlocked transactions.
    with get_engine(db_url).begin() as conn:
        conn.execute(text("CREATE SEQUENCE deadlock_once"))
        conn.execute(
            text(
                "CREATE FUNCTION deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF nextval('deadlock_once') = 1 THEN"
                " RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END IF;"
                " RETURN NULL; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER deadlock_once AFTER INSERT ON store_customers"
                " FOR EACH STATEMENT EXECUTE FUNCTION deadlock_once()"
            )
        )
    try:
        with session_scope(db_url) as session:
            store_id = make_store(session).id
        lines = ["id,email,updated_at"] + [f"c{i},p{i}@example.com,2026-04-01T00:00:00Z" for i in range(30)]
        report = import_csv(db_url, store_id, "customers", io.BytesIO("\n".join(lines).encode()))
        assert (report.written, report.failed) == (30, 0)
        with session_scope(db_url) as session:
            # The batch's link insert ran twice: failed once as in a deadlock, then stored.
            assert session.scalar(text("SELECT last_value FROM deadlock_once")) == 2
            assert session.scalar(select(func.count()).select_from(StoreCustomer)) == 30
            assert session.scalar(select(func.count()).select_from(Contact)) == 30
    finally:
        with get_engine(db_url).begin() as conn:
            conn.execute(text("DROP TRIGGER deadlock_once ON store_customers"))
            conn.execute(text("DROP FUNCTION deadlock_once()"))
            conn.execute(text("DROP SEQUENCE deadlock_once"))


def test_what_fails_in_a_storer_reaches_the_importer(db_url: str) -> None:
    # A store gone while its file imports: the storer's error comes back as it was raised there.
    lines = ["id,email,updated_at"] + [f"c{i},p{i}@example.com,2026-04-01T00:00:00Z" for i in (1, 2)]
    with pytest.raises(LookupError, match="no store 987654"):
        import_csv(db_url, 987654, "customers", io.BytesIO("\n".join(lines).encode()))
    # A record the database refuses while it is stored is reported by the reader with the file's
    # row (the storer had the records alone), and the others are kept.
    with session_scope(db_url) as session:
        store_id = make_store(session).id
    with get_engine(db_url).begin() as conn:
        conn.execute(text("ALTER TABLE store_customers ADD CONSTRAINT refuse_c2 CHECK (external_id <> 'c2')"))
    try:
        report = import_csv(db_url, store_id, "customers", io.BytesIO("\n".join(lines).encode()))
    finally:
        with get_engine(db_url).begin() as conn:
            conn.execute(text("ALTER TABLE store_customers DROP CONSTRAINT refuse_c2"))
    assert (report.written, report.failed) == (1, 1)
    assert [(e["row"], e["cells"][0]) for e in report.errors] == [(3, ["id", "c2"])]
    with session_scope(db_url) as session:
        stored = session.scalars(select(StoreCustomer.external_id).where(StoreCustomer.store_id == store_id))
        assert list(stored) == ["c1"]
