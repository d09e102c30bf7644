"""Deletions reported by a platform: orders, checkouts and customers leave the numbers, not the history.

Rows are marked deleted rather than removed, so a late delivery of an older version cannot bring
them back. A deletion or redaction also leaves a removal marker (store, kind, id, time), kept even
when the id was never seen: deliveries come in any order, and the create that a delete overtook
must not bring the record back when it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from integration.commerce import totals
from integration.contract import CustomerRecord, OrderRecord, Outcome
from integration.ingest.recompute import recompute_last_interactions
from integration.store.bulk import chunks, insert_for, keyed, parts
from integration.store.models import (
    Checkout,
    Contact,
    Order,
    Removal,
    RemovalKind,
    RemovalReason,
    Store,
    StoreCustomer,
    table_of,
)
from integration.store.types import utcnow


def delete_orders(session: Session, store: Store, external_ids: Sequence[str], at: datetime) -> Outcome:
    """Mark a store's orders deleted; their contacts' last interaction is rebuilt without them."""
    outcome = Outcome(account_id=store.account_id)
    mark_removed(session, store, RemovalKind.ORDER, external_ids, at)
    for part in chunks(list(external_ids)):
        where = (Order.store_id == store.id, Order.external_id.in_(part), Order.deleted_at.is_(None))
        contacts = session.scalars(select(Order.contact_id).where(*where, Order.contact_id.is_not(None)))
        outcome.contact_ids.update(c for c in contacts if c is not None)
        # Later versions of a deleted order update its fields but never clear `deleted_at`.
        result = session.execute(update(Order).where(*where).values(deleted_at=at))
        outcome.written += result.rowcount  # type: ignore[attr-defined]
    outcome.unchanged = len(external_ids) - outcome.written
    outcome.orders_changed = outcome.written > 0
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
    mark_removed(session, store, RemovalKind.CUSTOMER, external_ids, at)
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


def mark_removed(
    session: Session,
    store: Store,
    kind: RemovalKind,
    external_ids: Sequence[str],
    at: datetime,
    reason: RemovalReason = RemovalReason.DELETED,
) -> None:
    """Record that these ids were removed at `at`; a redaction is never undone by a later deletion."""
    table = table_of(Removal)
    rows = [
        {
            "store_id": store.id,
            "kind": kind,
            "external_id": str(external_id),
            "reason": reason,
            "removed_at": at,
            "recorded_at": utcnow(),
        }
        for external_id in dict.fromkeys(external_ids)
    ]
    if not rows:
        return
    stmt = insert_for(session, table)
    if reason == RemovalReason.REDACTED:
        replaces = table.c.reason == RemovalReason.DELETED
    else:
        # Of two deletions the later one counts: a customer restored and deleted again.
        replaces = (table.c.reason == RemovalReason.DELETED) & (table.c.removed_at < stmt.excluded.removed_at)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["store_id", "kind", "external_id"],
            set_={"reason": stmt.excluded.reason, "removed_at": stmt.excluded.removed_at},
            where=replaces,
        ),
        rows,
    )


def markers(
    session: Session, store: Store, kind: RemovalKind, external_ids: Sequence[str]
) -> dict[str, tuple[RemovalReason, datetime]]:
    """The removal markers of these ids: reason and time."""
    found: dict[str, tuple[RemovalReason, datetime]] = {}
    if not external_ids:
        return found
    # Most stores have few markers, or none: one probe spares the lookups (a batch asks thrice).
    if not session.scalar(select(exists().where(Removal.store_id == store.id, Removal.kind == kind))):
        return found
    for part in parts(session, sorted({str(e) for e in external_ids})):
        rows = session.execute(
            keyed(
                session,
                [Removal.external_id, Removal.reason, Removal.removed_at],
                Removal.external_id,
                part,
                Removal.store_id == store.id,
                Removal.kind == kind,
            )
        )
        found.update({ext: (reason, at) for ext, reason, at in rows})
    return found


def without_removed_customers(
    session: Session, store: Store, latest: dict[str, CustomerRecord]
) -> dict[str, CustomerRecord]:
    """Drop the customers a removal overrides: redacted ones, and deleted ones not updated since."""
    removed = markers(session, store, RemovalKind.CUSTOMER, list(latest))
    return {
        key: record
        for key, record in latest.items()
        if key not in removed
        or (removed[key][0] == RemovalReason.DELETED and record.updated_at > removed[key][1])
    }


def without_redacted_people(
    session: Session, store: Store, latest: dict[str, OrderRecord]
) -> dict[str, OrderRecord]:
    """Strip redacted orders, and orders of redacted customers, of their email and customer."""
    orders = markers(session, store, RemovalKind.ORDER, list(latest))
    customers = markers(
        session, store, RemovalKind.CUSTOMER, [r.customer_id for r in latest.values() if r.customer_id]
    )
    kept: dict[str, OrderRecord] = {}
    for key, record in latest.items():
        reasons = {orders.get(key, (None,))[0], customers.get(record.customer_id or "", (None,))[0]}
        redacted = RemovalReason.REDACTED in reasons
        kept[key] = replace(record, email=None, customer_id=None) if redacted else record
    return kept


def redelete_orders(session: Session, store: Store, external_ids: Sequence[str]) -> None:
    """Keep deleted the orders just written whose deletion is recorded (it may have arrived first).

    A deleted order never comes back (Shopify cannot restore one), so its time does not matter:
    the store ends as if the deletion had come last, and the version just written counts for
    nobody's last interaction or totals.
    """
    by_time: dict[datetime, list[str]] = {}
    for key, (reason, at) in markers(session, store, RemovalKind.ORDER, external_ids).items():
        if reason == RemovalReason.DELETED:
            by_time.setdefault(at, []).append(key)
    for at, keys in by_time.items():
        delete_orders(session, store, keys, at)
        contacts: set[int] = set()
        for part in chunks(keys):
            found = session.scalars(
                select(Order.contact_id).where(Order.store_id == store.id, Order.external_id.in_(part))
            )
            contacts.update(c for c in found if c is not None)
        recompute_last_interactions(session, store.account_id, contacts)
        totals.orders_changed(session, store.account_id, contacts)
