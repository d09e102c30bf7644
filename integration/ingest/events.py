"""Interaction events: stored once by their id, their effects (blocking, consent, send marks) applied once.

An event names its campaign by the campaign's external id (`campaign_id` in the API), kept on the
event as given (`campaign_ref`) whether or not the campaign exists yet. A send's first open, click
and QR scan come from those events whatever the order of arrival: storing events marks the sends
that exist, storing sends marks them from the events already there (`mark_sends`).

Writes that name the same campaign take turns (`lock_campaigns`), so the later of two sees the
earlier's rows whether or not the campaign existed when the earlier one looked it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.orm import Session

from integration.contract import EventRecord, Outcome
from integration.ingest.campaign_refs import SEND_MARKS, campaign_ids, lock_campaigns, mark_sends, sends_named
from integration.ingest.common import newest_hits, touch_contacts
from integration.ingest.consent import apply_consent
from integration.ingest.resolver import ContactResolver, Scope
from integration.store.bulk import among, chunks, insert_for, rows_table
from integration.store.models import (
    COUNTED_INTERACTIONS,
    BlockedReason,
    Contact,
    InteractionEvent,
    InteractionType,
    Store,
    SubscriptionStatus,
    table_of,
)
from integration.store.types import UTCDateTime

BLOCKING = {
    InteractionType.HARD_BOUNCE: BlockedReason.HARD_BOUNCE,
    InteractionType.SPAM_COMPLAINT: BlockedReason.SPAM_COMPLAINT,
}
CONSENT = {
    InteractionType.UNSUBSCRIBE: SubscriptionStatus.UNSUBSCRIBED,
    InteractionType.SUBSCRIBE: SubscriptionStatus.SUBSCRIBED,
}


def ingest_events(
    session: Session, scope: Scope | Store, records: Sequence[EventRecord], source: str
) -> Outcome:
    """Store new events and apply their effects once; an event id seen before changes nothing.

    `source` namespaces the events' ids (`api`, `sendgrid`, `mailchimp`): an id repeats only there.
    """
    scope = scope if isinstance(scope, Scope) else Scope.of(scope)
    outcome = Outcome()
    lock_campaigns(session, scope.account_id, (r.campaign_id for r in records if r.campaign_id))
    contacts = _contacts(session, scope, records)
    campaigns = campaign_ids(session, scope.account_id, {r.campaign_id for r in records if r.campaign_id})
    rows, seen = [], set()
    for position, (record, contact_id) in enumerate(zip(records, contacts, strict=True)):
        if contact_id is None:
            outcome.skipped.append(
                {"index": position, "field": "email", "reason": "no valid email and no known customer"}
            )
            continue
        if record.event_id is not None and record.event_id in seen:
            outcome.duplicate += 1
            continue
        seen.add(record.event_id)
        rows.append(
            {
                "account_id": scope.account_id,
                "store_id": scope.store_id,
                "contact_id": contact_id,
                "type": record.type,
                "occurred_at": record.occurred_at,
                "counted": record.type in COUNTED_INTERACTIONS and not record.machine_open,
                "source": source,
                "source_event_id": record.event_id,
                "campaign_ref": record.campaign_id,
                "campaign_id": campaigns.get(record.campaign_id) if record.campaign_id else None,
                "product_id": record.product_id,
                "attributes": {
                    **record.attributes,
                    **({"machine_open": True} if record.machine_open else {}),
                },
            }
        )
    if not rows:
        return outcome
    table = table_of(InteractionEvent)
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["account_id", "source", "source_event_id"])
        .returning(
            table.c.contact_id, table.c.type, table.c.occurred_at, table.c.counted, table.c.campaign_ref
        )
    )
    inserted = session.execute(stmt, rows).all()
    outcome.written = len(inserted)
    # Only an event id already stored makes a row conflict: each one left out is a replay.
    outcome.duplicate += len(rows) - len(inserted)
    _apply_effects(session, scope.account_id, inserted)
    outcome.contact_ids = {row.contact_id for row in inserted}
    return outcome


def _contacts(session: Session, scope: Scope, records: Sequence[EventRecord]) -> list[int | None]:
    """Each record's contact: the one it names if that is the account's, else by customer id or email."""
    named = sorted({r.contact_id for r in records if r.contact_id is not None})
    known: set[int] = set()
    for part in chunks(named):
        known.update(
            session.scalars(
                select(Contact.id).where(
                    Contact.account_id == scope.account_id, among(session, Contact.id, part)
                )
            )
        )
    contacts: list[int | None] = [r.contact_id if r.contact_id in known else None for r in records]
    rest = [i for i, contact_id in enumerate(contacts) if contact_id is None]
    resolved = ContactResolver(session, scope).resolve(
        [(records[i].customer_id, records[i].email) for i in rest], [records[i].occurred_at for i in rest]
    )
    for i, contact_id in zip(rest, resolved, strict=True):
        contacts[i] = contact_id
    return contacts


def _apply_effects(session: Session, account_id: int, inserted: Sequence[Any]) -> None:
    touch_contacts(session, newest_hits((r.contact_id, r.occurred_at, r.type) for r in inserted if r.counted))
    _block(session, [r for r in inserted if r.type in BLOCKING])
    consent: dict[int, dict[str, Any]] = {}
    for r in inserted:
        if r.type in CONSENT and (
            r.contact_id not in consent or r.occurred_at > consent[r.contact_id]["_at"]
        ):
            consent[r.contact_id] = {
                "_id": r.contact_id,
                "_status": CONSENT[r.type],
                "_at": r.occurred_at,
                "_reason": r.type.value,
            }
    apply_consent(session, list(consent.values()))
    named = {
        (r.campaign_ref, r.contact_id)
        for r in inserted
        if r.type in SEND_MARKS and r.counted and r.campaign_ref is not None
    }
    mark_sends(session, sends_named(session, account_id, named))


def _block(session: Session, rows: Sequence[Any]) -> None:
    """Block contacts on a hard bounce or spam complaint; the first blocking event is kept."""
    earliest: dict[int, Any] = {}
    for r in rows:
        if r.contact_id not in earliest or r.occurred_at < earliest[r.contact_id].occurred_at:
            earliest[r.contact_id] = r
    if not earliest:
        return
    table = table_of(Contact)
    block = rows_table(
        session,
        "block",
        {"id": BigInteger(), "reason": String(), "at": UTCDateTime()},
        [
            {"id": r.contact_id, "reason": str(BLOCKING[r.type]), "at": r.occurred_at}
            for r in earliest.values()
        ],
    )
    session.execute(
        update(table)
        .where(table.c.id == block.c.id, table.c.blocked_reason.is_(None))
        .values(blocked_reason=block.c.reason, blocked_at=block.c.at)
    )
