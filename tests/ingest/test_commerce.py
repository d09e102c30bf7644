"""Orders and checkouts: exactly once, newest wins, line items follow, checkouts complete and recover."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from integration.commerce.carts import mark_abandoned
from integration.ingest import ingest_checkouts, ingest_customers, ingest_orders
from integration.privacy import export_customer
from integration.store import session_scope
from integration.store.models import Checkout, CheckoutState, Contact, InteractionType, Order, OrderLineItem
from tests.support.builders import NOW, checkout, customer, item, make_store, order


def test_an_order_becomes_one_order_with_items_linked_to_one_contact_exactly_once(db_url: str) -> None:
    record = order(
        "1001",
        customer_id="c1",
        email="ann@example.com",
        line_items=[item("Shirt", "29.90", 2), item("Socks", "7.90", 1, product="p2")],
    )
    with session_scope(db_url) as session:
        store = make_store(session)
        for _ in range(3):
            ingest_orders(session, store, [record])
    with session_scope(db_url) as session:
        stored = session.scalars(select(Order)).one()
        assert stored.total_price == Decimal("67.70")
        assert [(li.title, li.quantity, li.unit_price) for li in stored.line_items] == [
            ("Shirt", 2, Decimal("29.90")),
            ("Socks", 1, Decimal("7.90")),
        ]
        contact = session.scalars(select(Contact)).one()
        assert stored.contact_id == contact.id
        assert (contact.last_interaction_at, contact.last_interaction_type) == (
            NOW,
            InteractionType.ORDER_PLACED,
        )


def test_the_customer_id_decides_the_contact_over_the_order_email(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_customers(session, store, [customer("c1", "ann@example.com")])
        ingest_orders(session, store, [order("1", customer_id="c1", email="ann.work@example.com")])
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        assert session.scalar(select(Order.email)) == "ann.work@example.com"


def test_an_older_update_arriving_later_changes_nothing(db_url: str) -> None:
    newer = order(
        "1",
        updated=NOW + timedelta(hours=2),
        email="a@example.com",
        financial_status="refunded",
        line_items=[item("Shirt", "29.90")],
    )
    older = order(
        "1",
        updated=NOW + timedelta(hours=1),
        email="a@example.com",
        financial_status="paid",
        line_items=[item("Shirt", "29.90"), item("Scarf", "24.50", product="p2")],
    )
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [newer])
        assert ingest_orders(session, store, [older]).written == 0
        assert session.scalar(select(Order.financial_status)) == "refunded"
        assert session.scalar(select(func.count()).select_from(OrderLineItem)) == 1


def test_a_newer_update_replaces_the_line_items(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", email="a@example.com", line_items=[item("A"), item("B")])])
        ingest_orders(
            session,
            store,
            [order("1", updated=NOW + timedelta(minutes=5), email="a@example.com", line_items=[item("C")])],
        )
        assert session.scalars(select(OrderLineItem.title)).all() == ["C"]


def test_cancelling_the_newest_order_moves_the_last_interaction_back(db_url: str) -> None:
    early = order("1", created=NOW - timedelta(days=10), email="a@example.com")
    late = order("2", created=NOW, email="a@example.com")
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [early, late])
        assert session.scalar(select(Contact.last_interaction_at)) == NOW
        cancelled = order(
            "2",
            created=NOW,
            updated=NOW + timedelta(hours=1),
            email="a@example.com",
            cancelled_at=NOW + timedelta(hours=1),
        )
        ingest_orders(session, store, [cancelled])
        assert session.scalar(select(Contact.last_interaction_at)) == NOW - timedelta(days=10)


def test_a_voided_only_order_leaves_no_interaction(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", email="a@example.com", financial_status="voided")])
        assert session.scalar(select(Contact.last_interaction_at)) is None


def test_checkout_completed_before_the_delay_is_never_abandoned(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_checkouts(session, store, [checkout("t1", email="a@example.com", completed_at=NOW)])
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 0
        assert session.scalar(select(Checkout.state)) == CheckoutState.COMPLETED


def test_abandoned_then_ordered_through_its_token_is_recovered(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_checkouts(session, store, [checkout("t1", email="a@example.com")])
        assert mark_abandoned(session, now=NOW + timedelta(minutes=9)) == 0
        assert mark_abandoned(session, now=NOW + timedelta(minutes=11)) == 1
        ingest_orders(
            session,
            store,
            [order("1", created=NOW + timedelta(days=1), email="a@example.com", checkout_token="t1")],
        )
        stored = session.scalars(select(Checkout)).one()
        assert stored.state == CheckoutState.RECOVERED
        assert stored.abandoned_at == NOW + timedelta(minutes=10)
        assert stored.recovery_rule == "checkout_token"
        assert stored.recovered_by_order_id == session.scalar(select(Order.id))


def test_a_guest_checkout_without_email_is_never_abandoned(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_checkouts(session, store, [checkout("t1")])
        assert mark_abandoned(session, now=NOW + timedelta(days=1)) == 0
        assert session.scalar(select(Checkout.contact_id)) is None


def test_a_checkout_arriving_after_its_order_is_completed(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest_orders(session, store, [order("1", email="a@example.com", checkout_token="t1")])
        ingest_checkouts(
            session, store, [checkout("t1", updated=NOW - timedelta(minutes=1), email="a@example.com")]
        )
        assert session.scalar(select(Checkout.state)) == CheckoutState.COMPLETED


@pytest.mark.parametrize("first", ["checkout", "order"])
def test_a_checkout_naming_a_customer_goes_to_that_customers_contact_as_its_orders_do(
    db_url: str, first: str
) -> None:
    # Shopify's checkouts/create sample: the checkout's own email differs from its customer's.
    cart = checkout(
        "t1", customer_id="c1", email="example@email.com", customer_email="john@example.com", cart_token="k1"
    )
    placed = order("o1", NOW + timedelta(days=1), customer_id="c1", email="john@example.com", cart_token="k1")
    with session_scope(db_url) as session:
        store = make_store(session)
        steps = [
            lambda: ingest_checkouts(session, store, [cart]),
            lambda: ingest_orders(session, store, [placed]),
        ]
        for step in steps if first == "checkout" else reversed(steps):
            step()
        stored = session.scalars(select(Checkout)).one()
        john = session.scalars(select(Contact).where(Contact.email == "john@example.com")).one()
        assert stored.contact_id == session.scalars(select(Order.contact_id)).one() == john.id
        assert stored.email == "example@email.com"  # the checkout keeps its own email
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        # The customer's data request lists the checkout with the orders.
        document = export_customer(session, store, "c1", "john@example.com").document
        assert document["contact"]["email"] == "john@example.com"
        assert [c["token"] for c in document["checkouts"]] == ["t1"]
        assert document["checkouts"][0]["email"] == "example@email.com"
        assert [o["id"] for o in document["orders"]] == ["o1"]
