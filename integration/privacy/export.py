"""Data requests: everything stored about a store's customer, gathered for the merchant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.privacy.customers import customer_orders, find_contact
from integration.store.db import account_row
from integration.store.models import (
    CampaignSend,
    Checkout,
    Contact,
    ContactEmail,
    DataExport,
    InteractionEvent,
    Order,
    Store,
    StoreCustomer,
    Visitor,
)
from integration.store.types import iso, utcnow


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
    orders = customer_orders(session, store, contact, order_ids)
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
    return [_summary(e) for e in exports]


def get_export(session: Session, account_id: int, export_id: int) -> dict[str, Any] | None:
    """One data export of the account with its document; None when it is not the account's."""
    export = account_row(session, DataExport, export_id, account_id)
    if export is None:
        return None
    return {**_summary(export), "document": export.document}


def _summary(export: DataExport) -> dict[str, Any]:
    return {
        "id": export.id,
        "store_id": export.store_id,
        "customer_id": export.customer_external_id,
        "request_id": export.request_id,
        "created_at": export.created_at.isoformat(),
    }


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
        # The storefront browsers tied to the contact (their ids, as the pixel or snippet sent them).
        "storefront_visitors": [
            {
                "store_id": v.store_id,
                "visitor_id": v.key,
                "tied_by": v.tied_by,
                "tied_at": iso(v.tied_at),
                "first_seen_at": iso(v.first_seen_at),
                "last_seen_at": iso(v.last_seen_at),
            }
            for v in session.scalars(
                select(Visitor).where(Visitor.contact_id == contact.id).order_by(Visitor.id)
            )
        ],
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
