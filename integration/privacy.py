"""Privacy requests: export everything stored about a customer, erase a customer, erase a store.

Erasing keeps what the numbers need without a person behind it: orders keep their totals, dates and
line items but lose their email; the contact keeps its id (so past statistics still add up) but loses
its address and earlier addresses, name, phone, tags, events and sends, and leaves every list. A
contact that another store of the account still knows is only unlinked from the erased store: the
person is still that other store's customer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, delete, exists, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from integration.contacts.identity import normalize_email
from integration.ingest.removals import mark_removed
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
)
from integration.store.types import iso, utcnow

REDACTED_DOMAIN = "redacted.invalid"


def find_contact(
    session: Session, store: Store, external_id: str | None, email: str | None
) -> Contact | None:
    """The contact of a store's customer: by its link first, then by its email in the account."""
    if external_id:
        contact_id = session.scalar(
            select(StoreCustomer.contact_id).where(
                StoreCustomer.store_id == store.id, StoreCustomer.external_id == external_id
            )
        )
        if contact_id is not None:
            return session.get(Contact, contact_id)
    if email:
        try:
            normalized = normalize_email(email)
        except ValueError:
            return None
        current = session.scalar(
            select(Contact).where(Contact.account_id == store.account_id, Contact.email == normalized)
        )
        if current is not None:
            return current
        # An address the customer had before still names them.
        earlier = session.scalar(
            select(ContactEmail.contact_id).where(
                ContactEmail.account_id == store.account_id, ContactEmail.email == normalized
            )
        )
        return session.get(Contact, earlier) if earlier is not None else None
    return None


def export_customer(
    session: Session,
    store: Store,
    external_id: str | None,
    email: str | None,
    order_ids: Sequence[str] = (),
    request_id: str | None = None,
) -> DataExport:
    """Gather everything stored about a store's customer into a data export for the merchant.

    A request already exported (the same request delivered again, under another webhook id)
    returns its existing export.
    """
    existing = request_export(session, store, request_id)
    if existing is not None:
        return existing
    contact = find_contact(session, store, external_id, email)
    orders = _customer_orders(session, store, contact, order_ids)
    document: dict[str, Any] = {
        "store": {"id": store.id, "name": store.name, "shop_domain": store.shop_domain},
        "customer_id": external_id,
        "prepared_at": utcnow().isoformat(),
        "contact": _contact_document(session, contact) if contact is not None else None,
        "orders": [_order_document(o) for o in orders],
        "checkouts": [],
        "events": [],
        "campaign_sends": [],
    }
    if contact is not None:
        checkouts = session.scalars(
            select(Checkout).where(Checkout.store_id == store.id, Checkout.contact_id == contact.id)
        )
        document["checkouts"] = [_checkout_document(c) for c in checkouts]
        events = session.scalars(
            select(InteractionEvent)
            .where(InteractionEvent.contact_id == contact.id)
            .order_by(InteractionEvent.occurred_at)
        )
        document["events"] = [
            {
                "type": e.type.value,
                "occurred_at": e.occurred_at.isoformat(),
                "source": e.source,
                "product_id": e.product_id,
                "campaign_id": e.campaign_id,
            }
            for e in events
        ]
        sends = session.scalars(select(CampaignSend).where(CampaignSend.contact_id == contact.id))
        document["campaign_sends"] = [
            {
                "campaign_id": s.campaign_id,
                "status": s.status.value,
                **{
                    k: iso(getattr(s, k))
                    for k in (
                        "sent_at",
                        "delivered_at",
                        "returned_at",
                        "opened_at",
                        "clicked_at",
                        "scanned_at",
                    )
                },
            }
            for s in sends
        ]
    export = DataExport(
        account_id=store.account_id,
        store_id=store.id,
        request_id=request_id,
        customer_external_id=external_id,
        contact_id=contact.id if contact is not None else None,
        document=document,
    )
    session.add(export)
    session.flush()
    return export


def request_export(session: Session, store: Store, request_id: str | None) -> DataExport | None:
    """The export already prepared for a store's data request, if any."""
    if request_id is None:
        return None
    return session.scalar(
        select(DataExport).where(DataExport.store_id == store.id, DataExport.request_id == request_id)
    )


def list_exports(session: Session, account_id: int) -> list[dict[str, Any]]:
    """The account's data exports, newest first, without their documents."""
    exports = session.scalars(
        select(DataExport).where(DataExport.account_id == account_id).order_by(DataExport.id.desc())
    )
    return [
        {
            "id": e.id,
            "store_id": e.store_id,
            "customer_id": e.customer_external_id,
            "request_id": e.request_id,
            "created_at": e.created_at.isoformat(),
        }
        for e in exports
    ]


def get_export(session: Session, account_id: int, export_id: int) -> dict[str, Any] | None:
    """One data export of the account with its document; None when it is not the account's."""
    export = session.get(DataExport, export_id)
    if export is None or export.account_id != account_id:
        return None
    return {
        "id": export.id,
        "store_id": export.store_id,
        "customer_id": export.customer_external_id,
        "request_id": export.request_id,
        "created_at": export.created_at.isoformat(),
        "document": export.document,
    }


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
    orders = _customer_orders(session, store, contact, order_ids)
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
    from integration.commerce import totals

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


def _customer_orders(
    session: Session, store: Store, contact: Contact | None, order_ids: Sequence[str]
) -> list[Order]:
    conditions = []
    if contact is not None:
        conditions.append(Order.contact_id == contact.id)
    if order_ids:
        conditions.append(Order.external_id.in_([str(o) for o in order_ids]))
    if not conditions:
        return []
    return list(
        session.scalars(
            select(Order).where(Order.store_id == store.id, or_(*conditions)).order_by(Order.created_at)
        )
    )


def _contact_document(session: Session, contact: Contact) -> dict[str, Any]:
    links = session.execute(
        select(StoreCustomer.store_id, StoreCustomer.external_id).where(
            StoreCustomer.contact_id == contact.id
        )
    ).all()
    return {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "tags": contact.tags,
        "subscription_status": contact.subscription_status.value,
        "subscription_changed_at": iso(contact.subscription_changed_at),
        "engagement_status": contact.engagement_status.value if contact.engagement_status else None,
        "blocked_reason": contact.blocked_reason.value if contact.blocked_reason else None,
        "first_seen_at": iso(contact.first_seen_at),
        "earlier_emails": [
            {"email": email, "first_seen_at": iso(first), "replaced_at": iso(replaced)}
            for email, first, replaced in session.execute(
                select(ContactEmail.email, ContactEmail.first_seen_at, ContactEmail.replaced_at)
                .where(ContactEmail.contact_id == contact.id)
                .order_by(ContactEmail.replaced_at.desc())
            )
        ],
        "stores": [{"store_id": s, "customer_id": e} for s, e in links],
    }


def _order_document(order: Order) -> dict[str, Any]:
    return {
        "id": order.external_id,
        "name": order.name,
        "email": order.email,
        "created_at": iso(order.created_at),
        "financial_status": order.financial_status,
        "cancelled_at": iso(order.cancelled_at),
        "currency": order.currency,
        "total_price": str(order.total_price),
        "line_items": [
            {"title": i.title, "sku": i.sku, "quantity": i.quantity, "unit_price": str(i.unit_price)}
            for i in order.line_items
        ],
    }


def _checkout_document(checkout: Checkout) -> dict[str, Any]:
    return {
        "token": checkout.token,
        "email": checkout.email,
        "created_at": iso(checkout.created_at),
        "completed_at": iso(checkout.completed_at),
        "state": checkout.state.value,
        "currency": checkout.currency,
        "total_price": str(checkout.total_price),
        "recovery_url": checkout.recovery_url,
    }
