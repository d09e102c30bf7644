"""Deletions reported by a platform: orders, checkouts and customers leave the numbers, not the history.

Rows are marked deleted rather than removed, so a late delivery of an older version cannot bring
them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from integration import totals
from integration.ingest.common import Outcome, chunks
from integration.ingest.recompute import recompute_last_interactions
from integration.store.models import Checkout, Contact, Order, Store, StoreCustomer


def delete_orders(session: Session, store: Store, external_ids: Sequence[str], at: datetime) -> Outcome:
    """Mark a store's orders deleted; their contacts' last interaction is rebuilt without them."""
    outcome = Outcome(account_id=store.account_id)
    for part in chunks(list(external_ids)):
        where = (Order.store_id == store.id, Order.external_id.in_(part), Order.deleted_at.is_(None))
        contacts = session.scalars(select(Order.contact_id).where(*where, Order.contact_id.is_not(None)))
        outcome.contact_ids.update(c for c in contacts if c is not None)
        # Later versions of a deleted order update its fields but never clear `deleted_at`.
        result = session.execute(update(Order).where(*where).values(deleted_at=at))
        outcome.written += result.rowcount  # type: ignore[attr-defined]
    outcome.unchanged = len(external_ids) - outcome.written
    recompute_last_interactions(session, store.account_id, outcome.contact_ids)
    totals.orders_changed(session, store.account_id, outcome.contact_ids)
    return outcome


def delete_checkouts(
    session: Session, store: Store, tokens: Sequence[str], cart_tokens: Sequence[str], at: datetime
) -> Outcome:
    """Mark a store's checkouts deleted, found by token or by cart token."""
    outcome = Outcome(account_id=store.account_id)
    for column, keys in ((Checkout.token, tokens), (Checkout.cart_token, cart_tokens)):
        for part in chunks(list(keys)):
            result = session.execute(
                update(Checkout)
                .where(Checkout.store_id == store.id, column.in_(part), Checkout.deleted_at.is_(None))
                .values(deleted_at=at)
            )
            outcome.written += result.rowcount  # type: ignore[attr-defined]
    outcome.unchanged = max(0, len(tokens) + len(cart_tokens) - outcome.written)
    return outcome


def delete_customers(session: Session, store: Store, external_ids: Sequence[str], at: datetime) -> Outcome:
    """A store's customers were deleted: their contacts leave the account unless another store knows them.

    The link stays, stamped with the deletion time, so an older update arriving late changes nothing;
    a newer one (the customer restored) brings the contact back.
    """
    outcome = Outcome(account_id=store.account_id)
    other = aliased(StoreCustomer)
    for part in chunks(list(external_ids)):
        links = select(StoreCustomer.contact_id).where(
            StoreCustomer.store_id == store.id, StoreCustomer.external_id.in_(part)
        )
        contact_ids = set(session.scalars(links))
        outcome.contact_ids |= contact_ids
        session.execute(
            update(StoreCustomer)
            .where(
                StoreCustomer.store_id == store.id,
                StoreCustomer.external_id.in_(part),
                or_(StoreCustomer.updated_at.is_(None), StoreCustomer.updated_at < at),
            )
            .values(updated_at=at)
        )
        result = session.execute(
            update(Contact)
            .where(
                Contact.id.in_(contact_ids),
                Contact.deleted_at.is_(None),
                ~exists().where(other.contact_id == Contact.id, other.store_id != store.id),
            )
            .values(deleted_at=at)
        )
        outcome.written += result.rowcount  # type: ignore[attr-defined]
    outcome.unchanged = len(external_ids) - outcome.written
    return outcome
