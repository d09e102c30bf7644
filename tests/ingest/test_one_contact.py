"""One customer, one contact: a batch giving a new customer two emails makes one contact, at the newest."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integration.ingest.resolver import ContactResolver
from integration.store import session_scope
from integration.store.models import Contact, Order, Store, StoreCustomer
from tests.support.batches import api_orders_of_one_customer, process_batch
from tests.support.builders import NOW, make_store
from tests.support.shopify import payload

OLD, NEW = "ann.old@example.com", "ann.new@example.com"
ARRIVALS = pytest.mark.parametrize("newest_first", [False, True], ids=["oldest first", "newest first"])


def _contacts(
    db_url: str, store_id: int, customer_id: str
) -> tuple[list[str], int, dict[str, tuple[int, str]]]:
    """The account's contact emails, the customer's linked contact, and each order's contact and email."""
    with session_scope(db_url) as session:
        store = session.get(Store, store_id)
        assert store is not None
        emails = session.scalars(select(Contact.email).where(Contact.account_id == store.account_id)).all()
        linked = session.scalar(
            select(StoreCustomer.contact_id).where(
                StoreCustomer.store_id == store_id, StoreCustomer.external_id == customer_id
            )
        )
        assert linked is not None
        orders = {
            external_id: (contact_id, email)
            for external_id, contact_id, email in session.execute(
                select(Order.external_id, Order.contact_id, Order.email).where(Order.store_id == store_id)
            )
        }
        return sorted(emails), linked, orders


def _new_store(db_url: str) -> int:
    with session_scope(db_url) as session:
        return make_store(session).id


def _shopify_order(order_id: int, email: str, at: Any) -> dict[str, Any]:
    body = payload("orders_create")
    customer = {**body["customer"], "id": 7001, "email": email}
    stamp = at.isoformat()
    return {
        **body,
        "id": order_id,
        "email": email,
        "contact_email": email,
        "customer": customer,
        "created_at": stamp,
        "processed_at": stamp,
        "updated_at": stamp,
        "refunds": [],
    }


@ARRIVALS
def test_two_shopify_orders_of_a_new_customer_with_two_emails_make_one_contact(
    db_url: str, newest_first: bool
) -> None:
    store_id = _new_store(db_url)
    deliveries = [
        ("orders/create", _shopify_order(1, OLD, NOW)),
        ("orders/create", _shopify_order(2, NEW, NOW + timedelta(days=1))),
    ]
    process_batch(db_url, store_id, "shopify", deliveries[::-1] if newest_first else deliveries)
    emails, linked, orders = _contacts(db_url, store_id, "7001")
    assert emails == [NEW]
    # The older address stays with the contact, on the order that gave it.
    assert orders == {"1": (linked, OLD), "2": (linked, NEW)}


@ARRIVALS
def test_two_shopify_customer_updates_with_two_emails_make_one_contact(
    db_url: str, newest_first: bool
) -> None:
    store_id = _new_store(db_url)
    sample = payload("customers_create")
    deliveries = [
        ("customers/update", {**sample, "id": 7001, "email": OLD, "updated_at": NOW.isoformat()}),
        (
            "customers/update",
            {**sample, "id": 7001, "email": NEW, "updated_at": (NOW + timedelta(hours=1)).isoformat()},
        ),
    ]
    process_batch(db_url, store_id, "shopify", deliveries[::-1] if newest_first else deliveries)
    emails, _, _ = _contacts(db_url, store_id, "7001")
    assert emails == [NEW]


@ARRIVALS
def test_api_orders_of_a_new_customer_with_two_emails_make_one_contact(
    db_url: str, newest_first: bool
) -> None:
    store_id = _new_store(db_url)
    records = api_orders_of_one_customer("c-7001", OLD, NEW, NOW)
    process_batch(db_url, store_id, "api", [("orders", records[::-1] if newest_first else records)])
    emails, linked, orders = _contacts(db_url, store_id, "c-7001")
    assert emails == [NEW]
    assert orders == {"1": (linked, OLD), "2": (linked, NEW)}


def test_two_workers_meeting_one_new_customer_at_once_give_it_one_contact(postgres_url: str) -> None:
    """Two transactions resolving one new customer id with different emails: the second waits for
    the first and takes its contact, instead of creating a second one that is left beside it."""
    with session_scope(postgres_url) as session:
        made = make_store(session)
        store_id, account_id = made.id, made.account_id
    results: dict[str, list[int | None]] = {}
    with session_scope(postgres_url) as first:
        store = first.get(Store, store_id)
        assert store is not None
        results["first"] = ContactResolver(first, store).resolve([("7001", OLD)], [NOW])
        first.flush()

        def second() -> None:
            with session_scope(postgres_url) as session:
                other = session.get(Store, store_id)
                assert other is not None
                results["second"] = ContactResolver(session, other).resolve([("7001", NEW)], [NOW])

        worker = threading.Thread(target=second)
        worker.start()
        worker.join(timeout=2)
        waited = worker.is_alive()  # the second waits on the first's lock until it commits
    worker.join(timeout=30)
    assert waited
    assert results["first"] == results["second"]
    with session_scope(postgres_url) as session:
        assert session.scalars(select(Contact.email).where(Contact.account_id == account_id)).all() == [OLD]
