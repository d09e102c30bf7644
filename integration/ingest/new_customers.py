"""Customers the store has never seen, at addresses no contact holds: written in one pass.

A first import or a backfill brings mostly such customers. The general path writes each of them
several times over (the contact at its address, then its profile and consent, the link, then its
version on the link, then its engagement group); here each row is written once, with what the
general path would leave in it:

- the contact at the normalized address, first seen when the customer was created (else at its
  version), its names, phone and tags, its consent (dated by its change, else by the version) when
  the record gives one;
- the customer's link with its version and creation time;
- the consent change (from unknown) in its log.

When the caller classifies the batch's contacts right after storing it, with nothing written in
between (`grouped`: a CSV import), the contact is also inserted unengaged since it was first seen
(a new contact has no interactions) and that change logged, as classifying it would; a caller that
writes more first (a Billbee page stores buyers, then their orders) leaves the group to its
classification, which then sees the orders.

A customer goes the general way instead when anything else may apply: it is linked already (also
by a writer that linked it while this one waited for its lock), the batch holds another version of
it or another new customer at the same address, its address is not valid, a contact already holds
the address, or storefront visitors that named it are waiting to be tied (their interactions would
make it engaged). Tests hold both paths to the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, String, literal, select, true
from sqlalchemy.orm import Session

from integration.contract import CustomerRecord
from integration.ingest.resolver import ContactResolver, safe_email
from integration.store import locks
from integration.store.bulk import CHUNK_ROWS, among, chunks, insert_for, insert_rows, parts, rows_table
from integration.store.locks import lock_key
from integration.store.models import (
    Contact,
    EngagementStatus,
    EngagementTransition,
    Store,
    StoreCustomer,
    SubscriptionStatus,
    SubscriptionTransition,
    Visitor,
    table_of,
)
from integration.store.types import JSONDocument, UTCDateTime, utcnow

NO_INTERACTION = "no_interaction"


def create_new_customers(
    session: Session,
    store: Store,
    fresh: Sequence[CustomerRecord],
    linked: set[str],
    repeated: set[str],
    *,
    grouped: bool = False,
) -> dict[str, int]:
    """Write the customers of `fresh` that need nothing but a new contact; return their contacts.

    `linked` are the customer ids with a link already, `repeated` those with several versions in
    the batch. Every customer id of `fresh` without a link is locked (as the general path locks
    them), so the general path that stores the rest takes no new locks after these.
    """
    unlinked = sorted({r.external_id for r in fresh if r.external_id not in linked})
    if not unlinked:
        return {}
    if locks.hold(session, (lock_key("customer", store.id, c) for c in unlinked)):
        # Another writer may have linked some while this one waited.
        unlinked = sorted(set(unlinked) - set(ContactResolver(session, store).linked(unlinked)))
    open_ids = set(unlinked) - repeated - _awaited_by_visitors(session, store, unlinked)
    # An address another record of the batch also gives (whichever way that one goes) is left to
    # the general path, which resolves them together.
    emails = [safe_email(r.email) for r in fresh]
    given = Counter(e for e in emails if e)
    by_email = {
        email: record
        for record, email in zip(fresh, emails, strict=True)
        if email and given[email] == 1 and record.external_id in open_ids
    }
    if not by_email:
        return {}
    contacts = _insert_contacts(session, store, by_email, grouped)
    pairs = [(by_email[email], contact_id) for email, contact_id in contacts.items()]
    _insert_links(session, store, pairs)
    _log_consent(session, store, pairs)
    if grouped:
        _log_groups(session, store, [contact_id for _, contact_id in pairs])
    return {record.external_id: contact_id for record, contact_id in pairs}


def _awaited_by_visitors(session: Session, store: Store, external_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in parts(session, external_ids):
        found.update(
            ref
            for ref in session.scalars(
                select(Visitor.customer_ref).where(
                    Visitor.store_id == store.id,
                    Visitor.contact_id.is_(None),
                    among(session, Visitor.customer_ref, part),
                )
            )
            if ref is not None
        )
    return found


def _consent(record: CustomerRecord, store: Store) -> tuple[str, Any, str | None]:
    """The status, its time and reason the contact starts with (the general path's `_fold`)."""
    if record.subscription_status is None:
        return SubscriptionStatus.UNKNOWN.value, None, None
    at = record.subscription_changed_at or record.updated_at
    return record.subscription_status.value, at, _customer_reason(store)


def _customer_reason(store: Store) -> str:
    """Why a consent a customer record gives was logged."""
    return f"{store.platform.value}_customer"


NEW_COLUMNS: dict[str, Any] = {
    "email": String(),
    "seen": UTCDateTime(),
    "first": String(),
    "last": String(),
    "phone": String(),
    "tags": JSONDocument,
    "status": String(),
    "status_at": UTCDateTime(),
    "reason": String(),
}


def _insert_contacts(
    session: Session, store: Store, by_email: dict[str, CustomerRecord], grouped: bool
) -> dict[str, int]:
    """Insert a contact per address no contact holds; return those inserted (address: contact)."""
    rows = []
    for email, record in by_email.items():
        status, at, reason = _consent(record, store)
        rows.append(
            {
                "email": email,
                "seen": record.created_at or record.updated_at,
                "first": record.first_name,
                "last": record.last_name,
                "phone": record.phone,
                "tags": sorted(set(record.tags)) if record.tags is not None else [],
                "status": status,
                "status_at": at,
                "reason": reason,
            }
        )
    table = table_of(Contact)
    now = utcnow()
    group = EngagementStatus.UNENGAGED.value if grouped else None
    reason = NO_INTERACTION if grouped else None
    inserted: dict[str, int] = {}
    for part in chunks(rows, CHUNK_ROWS):
        new = rows_table(session, "new_contact", NEW_COLUMNS, part)
        statement = (
            insert_for(session, table)
            .from_select(
                [
                    "account_id",
                    "email",
                    "first_seen_at",
                    "first_name",
                    "last_name",
                    "phone",
                    "tags",
                    "subscription_status",
                    "subscription_changed_at",
                    "subscription_reason",
                    "engagement_status",
                    "engagement_reason",
                    "engagement_since",
                    "created_at",
                    "updated_at",
                ],
                select(
                    literal(store.account_id, BigInteger()),
                    new.c.email,
                    new.c.seen,
                    new.c.first,
                    new.c.last,
                    new.c.phone,
                    new.c.tags,
                    new.c.status,
                    new.c.status_at,
                    new.c.reason,
                    literal(group, String()),
                    literal(reason, String()),
                    new.c.seen if grouped else literal(None, UTCDateTime()),
                    literal(now, UTCDateTime()),
                    literal(now, UTCDateTime()),
                ).where(true()),  # lets SQLite parse an upsert from a SELECT
            )
            .on_conflict_do_nothing(index_elements=["account_id", "email"])
            .returning(table.c.email, table.c.id)
        )
        inserted.update({email: contact_id for email, contact_id in session.execute(statement)})
    return inserted


def _insert_links(session: Session, store: Store, pairs: list[tuple[CustomerRecord, int]]) -> None:
    insert_rows(
        session,
        table_of(StoreCustomer),
        [
            {
                "external_id": record.external_id,
                "contact_id": contact_id,
                "updated_at": record.updated_at,
                "created_at": record.created_at,
            }
            for record, contact_id in pairs
        ],
        same={"store_id": store.id, "linked_at": utcnow()},
    )


def _log_consent(session: Session, store: Store, pairs: list[tuple[CustomerRecord, int]]) -> None:
    """Log each new contact's consent when it is not unknown."""
    rows = []
    for record, contact_id in pairs:
        status, at, _ = _consent(record, store)
        if status != SubscriptionStatus.UNKNOWN.value:
            rows.append({"contact_id": contact_id, "to_status": status, "changed_at": at})
    insert_rows(
        session,
        table_of(SubscriptionTransition),
        rows,
        same={
            "account_id": store.account_id,
            "from_status": SubscriptionStatus.UNKNOWN.value,
            "at": utcnow(),
            "reason": _customer_reason(store),  # `_consent`'s, the status being known
        },
    )


def _log_groups(session: Session, store: Store, contact_ids: list[int]) -> None:
    """Log each new contact's first engagement group."""
    insert_rows(
        session,
        table_of(EngagementTransition),
        [{"contact_id": contact_id} for contact_id in contact_ids],
        same={
            "account_id": store.account_id,
            "from_status": None,
            "to_status": EngagementStatus.UNENGAGED.value,
            "at": utcnow(),
            "reason": NO_INTERACTION,
        },
    )
