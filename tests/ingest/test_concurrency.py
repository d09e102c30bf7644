"""Two workers writing versions of one record at once: the newer version wins whatever commits last."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from integration import ingest
from integration.store import session_factory, session_scope
from integration.store.models import Contact, Order, OrderLineItem, Store
from tests.support.builders import NOW, customer, item, make_store, order
from tests.support.servers import START_SECONDS

# Row locks between concurrent transactions are PostgreSQL's; SQLite takes one writer at a time.
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def postgres_store(db_url: str) -> tuple[str, int]:
    with session_scope(db_url) as session:
        return db_url, make_store(session).id


def _race(url: str, store_id: int, newer: Callable[..., object], older: Callable[..., object]) -> None:
    """Write `newer` in a transaction that stays open while `older` is written by another one."""
    first = session_factory(url)()
    first_store = first.get(Store, store_id)
    newer(first, first_store)
    first.flush()
    done = threading.Event()

    def second() -> None:
        with session_scope(url) as session:
            older(session, session.get(Store, store_id))
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)
    assert not done.is_set(), "the older write should wait for the newer one's lock"
    first.commit()
    first.close()
    thread.join(timeout=START_SECONDS)
    assert done.is_set()


def test_an_older_customer_version_committed_last_does_not_overwrite_the_newer(
    postgres_store: tuple[str, int],
) -> None:
    url, store_id = postgres_store
    with session_scope(url) as session:
        ingest.ingest_customers(session, session.get(Store, store_id), [customer("c1", "ann@example.com")])
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_customers(
            s, st, [customer("c1", "ann@example.com", NOW + timedelta(hours=2), first_name="Newer")]
        ),
        lambda s, st: ingest.ingest_customers(
            s, st, [customer("c1", "ann@example.com", NOW + timedelta(hours=1), first_name="Older")]
        ),
    )
    with session_scope(url) as session:
        assert session.scalars(select(Contact.first_name)).one() == "Newer"


def test_an_older_order_version_committed_last_keeps_the_newer_line_items(
    postgres_store: tuple[str, int],
) -> None:
    url, store_id = postgres_store
    with session_scope(url) as session:
        ingest.ingest_orders(session, session.get(Store, store_id), [order("o1", email="ann@example.com")])
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o1", updated=NOW + timedelta(hours=2), line_items=[item("Newer coat", "90.00")])]
        ),
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o1", updated=NOW + timedelta(hours=1), line_items=[item("Older hat", "10.00")])]
        ),
    )
    with session_scope(url) as session:
        assert session.scalars(select(OrderLineItem.title)).all() == ["Newer coat"]
        assert session.scalars(select(Order.updated_at)).one() == NOW + timedelta(hours=2)
