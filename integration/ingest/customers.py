"""Customers into contacts: identity, names, consent and tags, newest version wins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, literal, or_, select, update
from sqlalchemy.orm import Session

from integration.identity import normalize_email
from integration.ingest.common import ContactResolver, Outcome, chunks, newest_by
from integration.records import CustomerRecord
from integration.store.models import Contact, Store, StoreCustomer, SubscriptionTransition, table_of
from integration.store.types import UTCDateTime, utcnow


def ingest_customers(session: Session, store: Store, records: Sequence[CustomerRecord]) -> Outcome:
    """Upsert a store's customers into the account's contacts.

    A record older than (or as old as) the stored version of the same customer changes nothing;
    a customer with neither a known link nor a valid email is skipped with its reason.
    """
    outcome = Outcome()
    latest = newest_by(records, "external_id")
    outcome.unchanged += len(records) - len(latest)
    stored = _stored_versions(session, store, list(latest))
    fresh: list[CustomerRecord] = []
    for external_id, record in latest.items():
        known = stored.get(external_id)
        if known is not None and known[1] is not None and known[1] >= record.updated_at:
            outcome.unchanged += 1
        else:
            fresh.append(record)
    if not fresh:
        return outcome

    resolver = ContactResolver(session, store)
    contact_ids = resolver.resolve(
        [(r.external_id, r.email) for r in fresh], [r.created_at or r.updated_at for r in fresh]
    )
    # Every link exists now: lock them and look again, so a newer version written meanwhile by a
    # concurrent worker (committed while this one waited for the lock) is not overwritten.
    locked = _stored_versions(session, store, [r.external_id for r in fresh], lock=True)
    current = [
        (r, c)
        for r, c in zip(fresh, contact_ids, strict=True)
        if (version := locked.get(r.external_id, (None, None))[1]) is None or version < r.updated_at
    ]
    outcome.unchanged += len(fresh) - len(current)
    profile_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    consent_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    email_changes: list[tuple[int, str]] = []
    for record, contact_id in current:
        if contact_id is None:
            outcome.skipped.append(
                {"id": record.external_id, "field": "email", "reason": "no valid email and no known customer"}
            )
            continue
        outcome.written += 1
        outcome.contact_ids.add(contact_id)
        profile_rows.append(
            {
                "_id": contact_id,
                "_first": record.first_name,
                "_last": record.last_name,
                "_phone": record.phone,
            }
        )
        if record.tags is not None:
            tag_rows.append({"_id": contact_id, "_tags": sorted(set(record.tags))})
        if record.subscription_status is not None:
            consent_rows.append(
                {
                    "_id": contact_id,
                    "_status": record.subscription_status,
                    "_at": record.subscription_changed_at or record.updated_at,
                    "_reason": f"{store.platform.value}_customer",
                }
            )
        link_rows.append(
            {
                "_store": store.id,
                "_ext": record.external_id,
                "_upd": record.updated_at,
                "_cre": record.created_at,
            }
        )
        if record.external_id in stored and record.email:
            email_changes.append((contact_id, record.email))

    _update_profiles(session, profile_rows)
    _update_tags(session, tag_rows)
    apply_consent(session, consent_rows)
    if link_rows:
        table = table_of(StoreCustomer)
        session.execute(
            update(table)
            .where(
                table.c.store_id == bindparam("_store"),
                table.c.external_id == bindparam("_ext"),
                or_(table.c.updated_at.is_(None), table.c.updated_at < bindparam("_upd")),
            )
            .values(
                updated_at=bindparam("_upd"), created_at=func.coalesce(bindparam("_cre"), table.c.created_at)
            ),
            link_rows,
        )
    _follow_email_changes(session, store.account_id, email_changes)
    return outcome


def _stored_versions(
    session: Session, store: Store, external_ids: list[str], lock: bool = False
) -> dict[str, tuple[int, datetime | None]]:
    found: dict[str, tuple[int, datetime | None]] = {}
    for part in chunks(sorted(external_ids) if lock else external_ids):
        query = select(StoreCustomer.external_id, StoreCustomer.contact_id, StoreCustomer.updated_at).where(
            StoreCustomer.store_id == store.id, StoreCustomer.external_id.in_(part)
        )
        # Locked in a fixed order (sorted ids) so that two workers cannot deadlock on each other.
        rows = session.execute(query.order_by(StoreCustomer.external_id).with_for_update() if lock else query)
        found.update({ext: (cid, upd) for ext, cid, upd in rows})
    return found


def _update_profiles(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = table_of(Contact)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(
            first_name=func.coalesce(bindparam("_first"), table.c.first_name),
            last_name=func.coalesce(bindparam("_last"), table.c.last_name),
            phone=func.coalesce(bindparam("_phone"), table.c.phone),
            # A newer version of a customer deleted earlier restores its contact.
            deleted_at=None,
            updated_at=utcnow(),
        ),
        rows,
    )


def _update_tags(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        table = table_of(Contact)
        session.execute(
            update(table).where(table.c.id == bindparam("_id")).values(tags=bindparam("_tags")), rows
        )


def apply_consent(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set subscription status where the change (`_at`) is newer than the stored one; log each change."""
    if not rows:
        return
    table = table_of(Contact)
    newer = [
        table.c.id == bindparam("_id"),
        or_(table.c.subscription_changed_at.is_(None), table.c.subscription_changed_at < bindparam("_at")),
    ]
    log = table_of(SubscriptionTransition)
    session.execute(
        log.insert().from_select(
            ["account_id", "contact_id", "from_status", "to_status", "changed_at", "at", "reason"],
            select(
                table.c.account_id,
                table.c.id,
                table.c.subscription_status,
                bindparam("_status", type_=String()),
                bindparam("_at", type_=UTCDateTime()),
                literal(utcnow(), UTCDateTime()),
                bindparam("_reason", type_=String()),
            ).where(*newer, table.c.subscription_status != bindparam("_status", type_=String())),
        ),
        rows,
    )
    session.execute(
        update(table)
        .where(*newer)
        .values(
            subscription_status=bindparam("_status"),
            subscription_changed_at=bindparam("_at"),
            subscription_reason=bindparam("_reason"),
        ),
        rows,
    )


def _follow_email_changes(session: Session, account_id: int, changes: list[tuple[int, str]]) -> None:
    """A linked customer's new email moves its contact to the new address, unless another contact has it."""
    for contact_id, raw in changes:
        try:
            email = normalize_email(raw)
        except ValueError:
            continue
        contact = session.get(Contact, contact_id)
        if contact is None or contact.email == email:
            continue
        taken = session.scalar(
            select(Contact.id).where(Contact.account_id == account_id, Contact.email == email)
        )
        if taken is None:
            contact.email = email
    session.flush()
