"""Customers into contacts: identity, names, consent and tags, newest version wins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    case,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from integration.contacts.identity import normalize_email
from integration.contract import CustomerRecord, Outcome
from integration.ingest import storefront
from integration.ingest.common import newest_by
from integration.ingest.consent import consent_is_newer, log_consent
from integration.ingest.new_customers import create_new_customers
from integration.ingest.removals import without_removed_customers
from integration.ingest.resolver import ContactResolver, remember_emails
from integration.store.bulk import among, chunks, keyed, parts, rows_table
from integration.store.models import (
    Contact,
    ContactEmail,
    Store,
    StoreCustomer,
    table_of,
)
from integration.store.types import JSONDocument, UTCDateTime, utcnow


def ingest_customers(
    session: Session,
    store: Store,
    records: Sequence[CustomerRecord],
    *,
    in_one_pass: bool = True,
    classified_next: bool = False,
) -> Outcome:
    """Upsert a store's customers into the account's contacts.

    A record older than (or as old as) the stored version of the same customer, or than its
    deletion, changes nothing, nor does any record of a redacted customer;
    a customer with neither a known link nor a valid email is skipped with its reason.
    New customers at new addresses are written in one pass (`new_customers`) unless `in_one_pass`
    is off (the tests' reference: every record the general way); `classified_next` says the caller
    classifies the outcome's contacts right after, with nothing written in between, so new contacts
    are inserted in their engagement group.
    """
    outcome = Outcome()
    found = newest_by(records, "external_id", outcome=outcome)
    # Addresses of the older versions in this batch: the contact's earlier ones once it is known.
    passed_over = [(r, found[r.external_id]) for r in records if r.email and r is not found[r.external_id]]
    # A deletion that overtook this version, or a redaction, wins over it.
    latest = without_removed_customers(session, store, found)
    outcome.unchanged += len(found) - len(latest)
    stored = _stored_versions(session, store, list(latest))
    fresh: list[CustomerRecord] = []
    for external_id, record in latest.items():
        known = stored.get(external_id)
        if known is not None and known[1] is not None and known[1] >= record.updated_at:
            outcome.count_stale(record.updated_at, known[1])
        else:
            fresh.append(record)
    if in_one_pass and fresh:
        repeated = {key for key, count in Counter(r.external_id for r in records).items() if count > 1}
        created = create_new_customers(session, store, fresh, set(stored), repeated, grouped=classified_next)
        outcome.written += len(created)
        if not classified_next:  # else they are inserted in their group: nothing to classify
            outcome.contact_ids.update(created.values())
        fresh = [r for r in fresh if r.external_id not in created]
    if not fresh:
        return outcome

    resolver = ContactResolver(session, store)
    contact_ids = resolver.resolve(
        [(r.external_id, r.email) for r in fresh],
        [r.created_at or r.updated_at for r in fresh],
        [r.updated_at for r in fresh],
    )
    # Every link exists now: lock them and look again, so a newer version written meanwhile by a
    # concurrent worker (committed while this one waited for the lock) is not overwritten.
    locked = _stored_versions(session, store, [r.external_id for r in fresh], lock=True)

    def newer_than_stored(record: CustomerRecord) -> bool:
        known = locked.get(record.external_id)
        return known is None or known[1] is None or known[1] < record.updated_at

    current = [(r, c) for r, c in zip(fresh, contact_ids, strict=True) if newer_than_stored(r)]
    for record in fresh:
        if not newer_than_stored(record):
            outcome.count_stale(record.updated_at, locked[record.external_id][1])
    changes: dict[int, dict[str, Any]] = {}
    link_rows: list[dict[str, Any]] = []
    email_changes: list[tuple[int, str, datetime]] = []
    written: dict[str, int] = {}
    for record, contact_id in current:
        if contact_id is None:
            outcome.skipped.append(
                {"id": record.external_id, "field": "email", "reason": "no valid email and no known customer"}
            )
            continue
        outcome.written += 1
        outcome.contact_ids.add(contact_id)
        change = changes.setdefault(contact_id, {"id": contact_id, **dict.fromkeys(CHANGE_COLUMNS)})
        _fold(change, record, store)
        link_rows.append(
            {"id": locked[record.external_id][2], "upd": record.updated_at, "cre": record.created_at}
        )
        written[record.external_id] = contact_id
        # A customer known before this batch (also one another writer created while this one
        # waited for its lock) may have moved to a new address; a new one was linked at its own.
        if record.external_id not in resolver.linked_now and record.email:
            email_changes.append((contact_id, record.email, record.updated_at))

    _update_contacts(session, list(changes.values()))
    if link_rows:
        table = table_of(StoreCustomer)
        link = rows_table(
            session, "link", {"id": BigInteger(), "upd": UTCDateTime(), "cre": UTCDateTime()}, link_rows
        )
        session.execute(
            update(table)
            .where(
                table.c.id == link.c.id,
                or_(table.c.updated_at.is_(None), table.c.updated_at < link.c.upd),
            )
            .values(updated_at=link.c.upd, created_at=func.coalesce(link.c.cre, table.c.created_at))
        )
    _follow_email_changes(session, store.account_id, email_changes)
    earlier: list[dict[str, Any]] = []
    for older, newer in passed_over:
        if older.external_id in written and older.email:
            try:
                email = normalize_email(older.email)
            except ValueError:
                continue
            contact_id = written[older.external_id]
            earlier.append(
                {
                    "contact": contact_id,
                    "email": email,
                    "first": older.updated_at,
                    "replaced": newer.updated_at,
                }
            )
    remember_emails(session, store.account_id, earlier)
    # Storefront visitors that named one of these customers before it was known are tied now.
    outcome.contact_ids |= storefront.visitors_identified(session, store, customers=written).contact_ids
    return outcome


def _stored_versions(
    session: Session, store: Store, external_ids: list[str], lock: bool = False
) -> dict[str, tuple[int, datetime | None, int]]:
    """Each known customer's contact, version and link id."""
    found: dict[str, tuple[int, datetime | None, int]] = {}
    # Locked in a fixed order (sorted ids) so that two workers cannot deadlock on each other.
    for part in parts(session, sorted(external_ids) if lock else external_ids):
        rows = session.execute(
            keyed(
                session,
                [
                    StoreCustomer.external_id,
                    StoreCustomer.contact_id,
                    StoreCustomer.updated_at,
                    StoreCustomer.id,
                ],
                StoreCustomer.external_id,
                part,
                StoreCustomer.store_id == store.id,
                lock=lock,
            )
        )
        found.update({ext: (cid, upd, link) for ext, cid, upd, link in rows})
    return found


CHANGE_COLUMNS: dict[str, TypeEngine[Any]] = {
    "first": String(),
    "last": String(),
    "phone": String(),
    "tags": JSONDocument,
    "status": String(),
    "at": UTCDateTime(),
    "reason": String(),
}


def _fold(change: dict[str, Any], record: CustomerRecord, store: Store) -> None:
    """Add a customer record to its contact's change (two customers of a batch may share a contact).

    Names and phone fold in order, the later given ones winning; the later tag list replaces an
    earlier one; of two consents the newer applies (the first of equally new ones).
    """
    for key, value in (("first", record.first_name), ("last", record.last_name), ("phone", record.phone)):
        if value is not None:
            change[key] = value
    if record.tags is not None:
        change["tags"] = sorted(set(record.tags))
    if record.subscription_status is not None:
        at = record.subscription_changed_at or record.updated_at
        if change["at"] is None or at > change["at"]:
            change |= {
                "status": record.subscription_status.value,
                "at": at,
                "reason": f"{store.platform.value}_customer",
            }


def _update_contacts(session: Session, changes: list[dict[str, Any]]) -> None:
    """Write each contact's profile, tags and consent in one pass (each row is rewritten once)."""
    if not changes:
        return
    table = table_of(Contact)
    change = rows_table(session, "change", {"id": BigInteger(), **CHANGE_COLUMNS}, changes)
    log_consent(session, change)
    newer = consent_is_newer(table, change)
    session.execute(
        update(table)
        .where(table.c.id == change.c.id)
        .values(
            first_name=func.coalesce(change.c.first, table.c.first_name),
            last_name=func.coalesce(change.c.last, table.c.last_name),
            phone=func.coalesce(change.c.phone, table.c.phone),
            tags=func.coalesce(change.c.tags, table.c.tags),
            subscription_status=case((newer, change.c.status), else_=table.c.subscription_status),
            subscription_changed_at=case((newer, change.c.at), else_=table.c.subscription_changed_at),
            subscription_reason=case((newer, change.c.reason), else_=table.c.subscription_reason),
            # A newer version of a customer deleted earlier restores its contact.
            deleted_at=None,
            updated_at=utcnow(),
        )
    )


def _follow_email_changes(
    session: Session, account_id: int, changes: list[tuple[int, str, datetime]]
) -> None:
    """A linked customer's new email moves its contact to the new address, unless another contact has it.

    The address it leaves is kept as the contact's earlier one, replaced at the version's time.
    """
    wanted: dict[int, tuple[str, datetime]] = {}
    for contact_id, raw, at in changes:
        try:
            wanted[contact_id] = (normalize_email(raw), at)
        except ValueError:
            continue
    current: dict[int, str] = {}
    for part in chunks(list(wanted)):
        found = session.execute(select(Contact.id, Contact.email).where(among(session, Contact.id, part)))
        current.update({contact_id: email for contact_id, email in found})
    # Most customers keep their address: only the ones that changed go on.
    changed = {c: w for c, w in wanted.items() if c in current and current[c] != w[0]}
    if not changed:
        return
    taken: set[str] = set()
    for addresses in chunks(sorted({email for email, _ in changed.values()})):
        taken.update(
            session.scalars(
                select(Contact.email).where(Contact.account_id == account_id, Contact.email.in_(addresses))
            )
        )
    moves: dict[int, tuple[str, datetime]] = {}
    for contact_id, (email, at) in changed.items():
        if email not in taken:  # another contact's address, or another's move in this batch, stays theirs
            taken.add(email)
            moves[contact_id] = (email, at)
    if not moves:
        return
    # The old address became the contact's at its previous change, else when the contact was first seen.
    since: dict[int, datetime | None] = {}
    for part in chunks(list(moves)):
        found_since = session.execute(
            select(Contact.id, Contact.first_seen_at, func.max(ContactEmail.replaced_at))
            .outerjoin(ContactEmail, ContactEmail.contact_id == Contact.id)
            .where(among(session, Contact.id, part))
            .group_by(Contact.id, Contact.first_seen_at)
        )
        since.update({contact_id: last or first for contact_id, first, last in found_since})
    table = table_of(Contact)
    move = rows_table(
        session,
        "move",
        {"id": BigInteger(), "email": String()},
        [{"id": c, "email": e} for c, (e, _) in moves.items()],
    )
    session.execute(
        update(table).where(table.c.id == move.c.id).values(email=move.c.email, updated_at=utcnow())
    )
    # An address the contact had before and takes again is its current one, no longer an earlier one.
    history = table_of(ContactEmail)
    pairs = [(c, e) for c, (e, _) in moves.items()]
    for some_pairs in chunks(pairs):
        session.execute(delete(history).where(tuple_(history.c.contact_id, history.c.email).in_(some_pairs)))
    remember_emails(
        session,
        account_id,
        [
            {"contact": c, "email": current[c], "first": since.get(c), "replaced": at}
            for c, (_, at) in moves.items()
        ],
    )
