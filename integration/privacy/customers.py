"""Who a privacy request is about: the customer's contact and orders in a store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from integration.contacts.identity import normalize_email
from integration.store.models import Contact, ContactEmail, Order, Store, StoreCustomer


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


def customer_orders(
    session: Session, store: Store, contact: Contact | None, order_ids: Sequence[str]
) -> list[Order]:
    """The store's orders of the customer: the contact's, and those the request names."""
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
