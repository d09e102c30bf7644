"""Erasure: a customer or a whole store loses its personal data, and no later delivery brings it back.

Erasing keeps what the numbers need without a person behind it: orders keep their totals, dates and
line items but lose their email; the contact keeps its id (so past statistics still add up) but loses
its address and earlier addresses, name, phone, tags, events and sends, and leaves every list. A
contact that another store of the account still knows is only unlinked from the erased store: the
person is still that other store's customer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import String, cast, delete, exists, literal, select, update
from sqlalchemy.orm import Session, aliased

from integration.commerce import totals
from integration.ingest.removals import mark_removed
from integration.privacy.customers import customer_orders, find_contact
from integration.store.bulk import chunks
from integration.store.models import (
    CampaignSend,
    Checkout,
    Contact,
    ContactEmail,
    ContactPeriodSpend,
    DataExport,
    EngagementTransition,
    Import,
    InboxDelivery,
    InboxStatus,
    InteractionEvent,
    Order,
    RemovalKind,
    RemovalReason,
    RfmScore,
    Store,
    StoreCustomer,
    SubscriptionStatus,
    SubscriptionTransition,
    Visitor,
)
from integration.store.types import utcnow

REDACTED_DOMAIN = "redacted.invalid"


def redact_customer(
    session: Session,
    store: Store,
    external_id: str | None,
    email: str | None,
    order_ids: Sequence[str] = (),
) -> dict[str, int]:
    """Erase a store's customer: its orders and checkouts lose their personal data; so does its contact.

    The customer and its orders are marked redacted, so no later delivery brings their personal
    data back, whenever it was made (an erasure is final).
    """
    contact = find_contact(session, store, external_id, email)
    orders = customer_orders(session, store, contact, order_ids)
    now = utcnow()
    if external_id:
        mark_removed(session, store, RemovalKind.CUSTOMER, [external_id], now, RemovalReason.REDACTED)
    redacted_orders = [str(o) for o in order_ids] + [o.external_id for o in orders]
    mark_removed(session, store, RemovalKind.ORDER, redacted_orders, now, RemovalReason.REDACTED)
    for part in chunks([o.id for o in orders]):
        session.execute(update(Order).where(Order.id.in_(part)).values(email=None))
    counts = {"orders": len(orders), "checkouts": 0, "contacts": 0, "deliveries": 0}
    if external_id:
        session.execute(
            delete(DataExport).where(
                DataExport.store_id == store.id, DataExport.customer_external_id == external_id
            )
        )
    counts["deliveries"] = _erase_deliveries(session, store, external_id, email)
    if contact is None:
        return counts
    result = session.execute(
        update(Checkout)
        .where(Checkout.store_id == store.id, Checkout.contact_id == contact.id)
        .values(email=None, recovery_url=None)
    )
    counts["checkouts"] = result.rowcount  # type: ignore[attr-defined]
    erased = _anonymize(session, store, [contact.id])
    counts["contacts"] = len(erased)
    if not erased:
        _detach(session, store, [contact.id])
    return counts


def _erase_deliveries(session: Session, store: Store, external_id: str | None, email: str | None) -> int:
    """Empty the raw deliveries of the store that mention the customer (its id or its email).

    Bodies are read in Python (a redaction is rare; a byte search in SQL differs by database); a
    pending delivery that mentions the customer is closed too, so it cannot bring the data back.
    """
    patterns = []
    if external_id:
        patterns.append(re.compile(rb"(?<![0-9])" + re.escape(external_id.encode()) + rb"(?![0-9])"))
    if email:
        patterns.append(re.compile(re.escape(email.strip().encode()), re.IGNORECASE))
    if not patterns:
        return 0
    rows = session.execute(
        select(InboxDelivery.id, InboxDelivery.body)
        .where(InboxDelivery.store_id == store.id)
        .execution_options(yield_per=500)
    )
    hits = [row_id for row_id, body in rows if body and any(p.search(body) for p in patterns)]
    for part in chunks(hits):
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id.in_(part))
            .values(body=b"", headers={}, last_error=None, result={"redacted": True})
        )
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id.in_(part), InboxDelivery.status == InboxStatus.PENDING)
            .values(status=InboxStatus.PROCESSED, processed_at=utcnow())
        )
    return len(hits)


def redact_store(session: Session, store: Store) -> dict[str, int]:
    """Erase a store's personal data: its orders, checkouts, raw deliveries and the contacts only it knows."""
    orders = session.execute(update(Order).where(Order.store_id == store.id).values(email=None))
    checkouts = session.execute(
        update(Checkout).where(Checkout.store_id == store.id).values(email=None, recovery_url=None)
    )
    contact_ids = list(
        session.scalars(select(StoreCustomer.contact_id).where(StoreCustomer.store_id == store.id))
    )
    erased = _anonymize(session, store, contact_ids)
    session.execute(
        update(InboxDelivery)
        .where(InboxDelivery.store_id == store.id)
        .values(body=b"", headers={}, last_error=None, result=None)
    )
    session.execute(delete(DataExport).where(DataExport.store_id == store.id))
    session.execute(delete(Visitor).where(Visitor.store_id == store.id))  # and their waiting events
    # Uploaded CSV files and their reports of bad rows hold customers' data too.
    session.execute(delete(Import).where(Import.store_id == store.id))
    _detach(session, store, sorted(set(contact_ids) - erased))
    store.credentials = None
    return {
        "orders": orders.rowcount,  # type: ignore[attr-defined]
        "checkouts": checkouts.rowcount,  # type: ignore[attr-defined]
        "contacts": len(erased),
    }


def _detach(session: Session, store: Store, contact_ids: Sequence[int]) -> None:
    """Contacts another store still knows: this store's orders, checkouts and events leave them."""
    for part in chunks(list(contact_ids)):
        for model in (Order, Checkout):
            session.execute(
                update(model)
                .where(model.store_id == store.id, model.contact_id.in_(part))
                .values(contact_id=None)
            )
        session.execute(
            delete(InteractionEvent).where(
                InteractionEvent.store_id == store.id, InteractionEvent.contact_id.in_(part)
            )
        )
        session.execute(delete(RfmScore).where(RfmScore.contact_id.in_(part)))  # recomputed by the job
    totals.orders_changed(session, store.account_id, contact_ids)


def _anonymize(session: Session, store: Store, contact_ids: Sequence[int]) -> set[int]:
    """Unlink the contacts from `store`; erase those no other store knows. Return the erased ones."""
    other = aliased(StoreCustomer)
    erased: set[int] = set()
    now = utcnow()
    for part in chunks(list(contact_ids)):
        only_here = list(
            session.scalars(
                select(Contact.id).where(
                    Contact.id.in_(part),
                    ~exists().where(other.contact_id == Contact.id, other.store_id != store.id),
                )
            )
        )
        session.execute(
            delete(StoreCustomer).where(
                StoreCustomer.store_id == store.id, StoreCustomer.contact_id.in_(part)
            )
        )
        # The browsers tied to them on this store, and what those browsers did (no later event of
        # theirs finds the person again).
        session.execute(delete(Visitor).where(Visitor.store_id == store.id, Visitor.contact_id.in_(part)))
        if not only_here:
            continue
        session.execute(
            update(Contact)
            .where(Contact.id.in_(only_here))
            .values(
                email=literal("redacted-") + cast(Contact.id, String) + literal(f"@{REDACTED_DOMAIN}"),
                first_name=None,
                last_name=None,
                phone=None,
                tags=[],
                subscription_status=SubscriptionStatus.UNSUBSCRIBED,
                subscription_reason="redacted",
                subscription_changed_at=now,
                deleted_at=now,
                updated_at=now,
            )
        )
        for model in (InteractionEvent, CampaignSend, DataExport, RfmScore, ContactPeriodSpend, ContactEmail):
            session.execute(delete(model).where(model.contact_id.in_(only_here)))
        for log in (EngagementTransition, SubscriptionTransition):
            session.execute(update(log).where(log.contact_id.in_(only_here)).values(reason="redacted"))
        erased.update(only_here)
    return erased
