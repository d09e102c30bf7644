"""Two workers writing at once: the newer version wins whatever commits last; a cart and its order meet."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration import ingest
from integration.analytics import period_spend
from integration.store import session_factory, session_scope
from integration.store.models import (
    Buyer,
    Checkout,
    CheckoutState,
    Contact,
    ContactPeriodSpend,
    ContactTotals,
    Order,
    OrderLineItem,
    Store,
)
from tests.support.builders import NOW, checkout, customer, item, make_store, order
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
    done = threading.Event()

    def second() -> None:
        with session_scope(url) as session:
            older(session, session.get(Store, store_id))
        done.set()

    thread = threading.Thread(target=second)
    try:
        newer(first, first.get(Store, store_id))
        first.flush()
        thread.start()
        time.sleep(0.5)
        assert not done.is_set(), "the second write should wait for the first one's lock"
        first.commit()
    finally:
        first.close()  # a failed check must not leave the first transaction holding its locks
        if thread.ident is not None:  # started
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


def test_a_new_order_a_newer_version_of_which_waited_for_it_keeps_only_the_newer_line_items(
    postgres_store: tuple[str, int],
) -> None:
    """The second writer read no stored order, yet updates the first's: it replaces its items."""
    url, store_id = postgres_store
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o2", updated=NOW + timedelta(hours=1), line_items=[item("Older hat", "10.00")])]
        ),
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o2", updated=NOW + timedelta(hours=2), line_items=[item("Newer coat", "90.00")])]
        ),
    )
    with session_scope(url) as session:
        assert session.scalars(select(OrderLineItem.title)).all() == ["Newer coat"]
        assert session.scalars(select(Order.updated_at)).one() == NOW + timedelta(hours=2)


def _registered_buyer(url: str, *store_ids: int) -> None:
    """Ann, a registered customer of these stores (one contact), with an order a month ago and one
    now. Her orders are found by her customer id, so, but for the buyers' locks, a writer of
    another of her orders would lock nothing of her contact unless it moved her first sighting or
    last interaction."""
    with session_scope(url) as session:
        for store_id in store_ids:
            store = session.get(Store, store_id)
            ingest.ingest_customers(session, store, [customer("c1", "ann@example.com")])
        ingest.ingest_orders(
            session,
            session.get(Store, store_ids[0]),
            [order("o0", created=NOW - timedelta(days=30), customer_id="c1"), order("o1", customer_id="c1")],
        )


def test_two_orders_of_one_buyer_stored_at_once_both_count_in_the_totals(
    postgres_store: tuple[str, int],
) -> None:
    """Orders between the first sighting and the last interaction change nothing on the contact,
    and orders of two stores take no lock in common (a store's orders take turns at its carts):
    only the totals bring the two writers together. The second recomputes the buyer after the
    first committed, counting both orders (before, it failed on the first's new rows)."""
    url, store_id = postgres_store
    with session_scope(url) as session:
        other = make_store(session, account_id=session.get(Store, store_id).account_id).id
    _registered_buyer(url, store_id, other)
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o2", created=NOW - timedelta(days=10), customer_id="c1")]
        ),
        lambda s, _: ingest.ingest_orders(
            s, s.get(Store, other), [order("o3", created=NOW - timedelta(days=20), customer_id="c1")]
        ),
    )
    with session_scope(url) as session:
        [(orders, revenue)] = session.execute(select(ContactTotals.orders, ContactTotals.revenue)).all()
        assert (orders, revenue) == (4, Decimal("119.60"))
        assert session.scalars(select(Buyer.orders)).one() == 4
    # The leaderboard's rows are those a recomputation from the stored orders gives.
    spend = select(ContactPeriodSpend.store_id, ContactPeriodSpend.period, ContactPeriodSpend.purchases)
    with session_scope(url) as session:
        stored = sorted(session.execute(spend).all())
        contact = session.scalars(select(Contact)).one()
        period_spend.refresh_spend(session, contact.account_id, [contact.id])
        assert sorted(session.execute(spend).all()) == stored
        session.rollback()


def test_a_cancellation_recomputed_while_a_newer_order_is_stored_keeps_the_newer_order(
    postgres_store: tuple[str, int],
) -> None:
    """The cancellation's recomputation of the last interaction waits for the newer order's
    writer and reads its order, instead of writing over it what it read before."""
    url, store_id = postgres_store
    _registered_buyer(url, store_id)
    later = NOW + timedelta(hours=1)
    cancelled = NOW + timedelta(hours=2)
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_orders(s, st, [order("o4", created=later, customer_id="c1")]),
        lambda s, st: ingest.ingest_orders(
            s, st, [order("o1", updated=cancelled, cancelled_at=cancelled, customer_id="c1")]
        ),
    )
    with session_scope(url) as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.last_interaction_at == later
        assert (
            session.scalars(select(Buyer.orders)).one() == 2
        )  # o0 and o4; the cancelled one no longer counts


def _two_versions_at_once(url: str, store_id: int, external_id: str, first: str, second: str) -> None:
    """Two newer versions of an order, the first for customer `first` and the newer for `second`,
    the newer written while the first's transaction is still open."""
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_orders(
            s, st, [order(external_id, updated=NOW + timedelta(hours=1), customer_id=first)]
        ),
        lambda s, st: ingest.ingest_orders(
            s, st, [order(external_id, updated=NOW + timedelta(hours=2), customer_id=second)]
        ),
    )


def _buyers(session: Session) -> list[tuple[str, int]]:
    """Each buyer's email and order count, as RFM reads them."""
    rows = select(Contact.email, Buyer.orders).join(Buyer, Buyer.contact_id == Contact.id)
    return [tuple(row) for row in session.execute(rows.order_by(Contact.email))]


def test_an_order_moved_twice_at_once_leaves_no_count_with_the_contact_in_between(
    postgres_store: tuple[str, int],
) -> None:
    """Two newer versions of one order move it from Ann to Bob and, newer still, to Cat. The
    second writer waits for the first and must take Bob, not Ann, for the order's former contact,
    so that Bob is recomputed without it."""
    url, store_id = postgres_store
    with session_scope(url) as session:
        store = session.get(Store, store_id)
        ingest.ingest_customers(
            session,
            store,
            [
                customer("c1", "ann@example.com"),
                customer("c2", "bob@example.com"),
                customer("c3", "cat@example.com"),
            ],
        )
        ingest.ingest_orders(session, store, [order("o1", customer_id="c1")])
    _two_versions_at_once(url, store_id, "o1", "c2", "c3")
    with session_scope(url) as session:
        assert _buyers(session) == [("cat@example.com", 1)]


def test_two_first_versions_of_an_order_stored_at_once_leave_it_with_the_newer_versions_buyer(
    postgres_store: tuple[str, int],
) -> None:
    """Neither writer finds the order stored: the first stores it for Ann; the second, newer and
    Bob's, waits at the order's key and then updates the first's row. It must learn that the order
    was Ann's (it stores the batch again, reading the order the first committed) so that Ann is
    recomputed without it; before, Ann kept a buyer row counting it beside Bob's."""
    url, store_id = postgres_store
    with session_scope(url) as session:
        ingest.ingest_customers(
            session,
            session.get(Store, store_id),
            [customer("c1", "ann@example.com"), customer("c2", "bob@example.com")],
        )
    _two_versions_at_once(url, store_id, "o9", "c1", "c2")
    with session_scope(url) as session:
        assert _buyers(session) == [("bob@example.com", 1)]
        totals = session.execute(
            select(Contact.email, ContactTotals.orders).join(
                ContactTotals, ContactTotals.contact_id == Contact.id
            )
        ).all()
        assert totals == [("bob@example.com", 1)]
        assert session.scalars(select(Order.updated_at)).one() == NOW + timedelta(hours=2)
        assert session.execute(select(func.count()).select_from(OrderLineItem)).scalar_one() == 1
        spend = ContactPeriodSpend
        spenders = session.scalars(
            select(Contact.email).join(spend, spend.contact_id == Contact.id).distinct()
        ).all()
        assert spenders == ["bob@example.com"]


@pytest.mark.parametrize("first", ["checkout", "order"])
def test_a_checkout_and_its_order_stored_at_once_are_decided_together(
    postgres_store: tuple[str, int], first: str
) -> None:
    """Each transaction misses the other's uncommitted row; the later settle still sees both."""
    url, store_id = postgres_store
    with session_scope(url) as session:  # the contact exists: neither write creates it
        ingest.ingest_customers(session, session.get(Store, store_id), [customer("c1", "ann@example.com")])
    abandoned_at = NOW - timedelta(days=5)
    writes = {
        "checkout": lambda s, st: ingest.ingest_checkouts(
            s, st, [checkout("t1", abandoned_at, customer_id="c1", email="ann@example.com")]
        ),
        # Placed three days after the cart was left: within the recovery window, by its token.
        "order": lambda s, st: ingest.ingest_orders(
            s,
            st,
            [
                order(
                    "o1",
                    NOW - timedelta(days=2),
                    customer_id="c1",
                    email="ann@example.com",
                    checkout_token="t1",
                )
            ],
        ),
    }
    second = "order" if first == "checkout" else "checkout"
    _race(url, store_id, writes[first], writes[second])
    with session_scope(url) as session:
        row = session.execute(
            select(Checkout.state, Checkout.recovery_rule, Checkout.recovered_by_order_id)
        ).one()
        order_id = session.scalars(select(Order.id)).one()
    assert row == (CheckoutState.RECOVERED, "checkout_token", order_id)


def test_a_new_customer_written_by_two_workers_at_once_gets_one_contact(
    postgres_store: tuple[str, int],
) -> None:
    """Both take the one-pass path for a customer nobody knows; the second waits for the first's lock,
    then finds its link and updates that contact instead of creating a second one, at the newer
    version's address (as if the two had been written one after the other)."""
    url, store_id = postgres_store
    _race(
        url,
        store_id,
        lambda s, st: ingest.ingest_customers(
            s, st, [customer("c1", "ann@example.com", NOW + timedelta(hours=1), first_name="Older")]
        ),
        lambda s, st: ingest.ingest_customers(
            s, st, [customer("c1", "ann.new@example.com", NOW + timedelta(hours=2), first_name="Newer")]
        ),
    )
    with session_scope(url) as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.email, contact.first_name) == ("ann.new@example.com", "Newer")
