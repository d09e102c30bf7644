"""Interaction events, campaigns and campaign sends.

An event names its campaign by the campaign's external id (`campaign_id` in the API), kept on the
event as given (`campaign_ref`) whether or not the campaign exists yet. A send's first open, click
and QR scan come from those events whatever the order of arrival: storing events marks the sends
that exist, storing sends marks them from the events already there (`mark_sends`).

Writes that name the same campaign take turns (`lock_campaigns`), so the later of two sees the
earlier's rows whether or not the campaign existed when the earlier one looked it up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from integration.ingest.common import Outcome, newest_hits, touch_contacts
from integration.ingest.customers import apply_consent
from integration.ingest.resolver import ContactResolver, Scope
from integration.records import CampaignRecord, EventRecord, SendRecord
from integration.store.bulk import chunks, insert_for, rows_table
from integration.store.models import (
    COUNTED_INTERACTIONS,
    BlockedReason,
    Campaign,
    CampaignPreview,
    CampaignSend,
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
SEND_MARKS = {
    InteractionType.EMAIL_OPEN: "opened_at",
    InteractionType.EMAIL_CLICK: "clicked_at",
    InteractionType.QR_SCAN: "scanned_at",
}
SEND_TIMES = ("queued_at", "sent_at", "delivered_at", "returned_at", "failed_at")


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
                select(Contact.id).where(Contact.account_id == scope.account_id, Contact.id.in_(part))
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
    mark_sends(session, _sends_named(session, account_id, named))


def _sends_named(session: Session, account_id: int, named: set[tuple[str, int]]) -> list[int]:
    """The ids of the sends of these (campaign external id, contact) pairs that exist now."""
    if not named:
        return []
    # Looked up now rather than when the events were read: a campaign or send committed meanwhile counts.
    campaigns = campaign_ids(session, account_id, {ref for ref, _ in named})
    wanted = {(campaigns[ref], contact) for ref, contact in named if ref in campaigns}
    if not wanted:
        return []
    table = table_of(CampaignSend)
    found: list[int] = []
    for part in chunks(sorted({contact for _, contact in wanted})):
        rows = session.execute(
            select(table.c.id, table.c.campaign_id, table.c.contact_id).where(
                table.c.campaign_id.in_(sorted({campaign for campaign, _ in wanted})),
                table.c.contact_id.in_(part),
            )
        )
        found += [send_id for send_id, campaign, contact in rows if (campaign, contact) in wanted]
    return found


def mark_sends(session: Session, send_ids: Sequence[int]) -> None:
    """Give sends the first counted open, click and QR scan of their contact that names their campaign.

    Events name a campaign by its external id, stored as given, so the order in which events,
    campaigns and sends arrive does not matter: whichever comes last marks the send. A time
    already marked stays unless an earlier event turns up. One statement per batch of sends, and
    only sends whose marks move are written (a repeated or later event rewrites no row).
    """
    sends, campaigns, events = table_of(CampaignSend), table_of(Campaign), table_of(InteractionEvent)
    send = sends.alias("send")
    kinds = [kind.value for kind in SEND_MARKS]
    for part in chunks(sorted(set(send_ids))):
        first = (
            select(
                send.c.id.label("id"),
                *(
                    func.min(case((events.c.type == kind.value, events.c.occurred_at))).label(column)
                    for kind, column in SEND_MARKS.items()
                ),
            )
            .select_from(
                send.join(campaigns, campaigns.c.id == send.c.campaign_id).join(
                    events,
                    and_(
                        events.c.account_id == campaigns.c.account_id,
                        events.c.campaign_ref == campaigns.c.external_id,
                        events.c.contact_id == send.c.contact_id,
                    ),
                )
            )
            .where(send.c.id.in_(part), events.c.counted.is_(True), events.c.type.in_(kinds))
            .group_by(send.c.id)
            .subquery("first")
        )
        moves = {
            column: and_(
                first.c[column].is_not(None),
                or_(sends.c[column].is_(None), first.c[column] < sends.c[column]),
            )
            for column in SEND_MARKS.values()
        }
        session.execute(
            update(sends)
            .where(sends.c.id == first.c.id, or_(*moves.values()))
            .values(
                {
                    column: case((moved, first.c[column]), else_=sends.c[column])
                    for column, moved in moves.items()
                }
            )
        )


def campaign_lock_key(account_id: int, external_id: str) -> int:
    """The advisory lock key of a campaign reference: a stable signed 64-bit hash of account and id."""
    digest = hashlib.blake2b(f"{account_id}:{external_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_campaigns(session: Session, account_id: int, external_ids: Iterable[str]) -> None:
    """Take turns with other transactions writing events, campaigns or sends that name these campaigns.

    On PostgreSQL a transaction-level advisory lock per (account, campaign external id), held until
    commit, taken before the caller reads or writes anything of those campaigns. It works whether
    or not the campaign exists yet, and each later statement (READ COMMITTED) sees what the
    transaction it waited for committed: an event batch, a campaign being created and its sends
    written at once always end with the send marked and the events linked. Keys are taken in
    sorted order, so two calls never each hold a key the other waits for. (A transaction making
    several calls, as the inbox does for a run of deliveries, can still meet another in a cycle:
    PostgreSQL then fails one delivery's savepoint, and the delivery is retried.) SQLite needs
    nothing: BEGIN IMMEDIATE lets one writer in at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({campaign_lock_key(account_id, ref) for ref in external_ids}):
        session.execute(select(func.pg_advisory_xact_lock(key)))


def link_campaign_events(session: Session, account_id: int, refs: Iterable[str]) -> None:
    """Link events that named these campaigns (by external id) before the campaigns existed."""
    events, campaigns = table_of(InteractionEvent), table_of(Campaign)
    for part in chunks(sorted(set(refs))):
        session.execute(
            update(events)
            .where(
                events.c.account_id == account_id,
                events.c.campaign_ref.in_(part),
                events.c.campaign_id.is_(None),
            )
            .values(
                campaign_id=select(campaigns.c.id)
                .where(
                    campaigns.c.account_id == events.c.account_id,
                    campaigns.c.external_id == events.c.campaign_ref,
                )
                .scalar_subquery()
            )
        )


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


def campaign_ids(session: Session, account_id: int, external_ids: set[str]) -> dict[str, int]:
    """Map campaigns' external ids to their ids in the account."""
    found: dict[str, int] = {}
    for part in chunks(sorted(external_ids)):
        rows = session.execute(
            select(Campaign.external_id, Campaign.id).where(
                Campaign.account_id == account_id, Campaign.external_id.in_(part)
            )
        )
        found.update({ext: cid for ext, cid in rows if ext is not None})
    return found


def ingest_campaigns(session: Session, store: Store, records: Sequence[CampaignRecord]) -> Outcome:
    """Upsert campaigns by external id and keep each distinct preview of what was sent.

    Events that named a campaign before it existed are linked to it.
    """
    outcome = Outcome()
    if not records:
        return outcome
    lock_campaigns(session, store.account_id, (r.external_id for r in records))
    table = table_of(Campaign)
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "external_id"],
        set_={"name": stmt.excluded.name, "channel": stmt.excluded.channel},
    )
    session.execute(
        stmt,
        [
            {
                "account_id": store.account_id,
                "external_id": r.external_id,
                "channel": r.channel,
                "name": r.name,
                "created_at": r.created_at or datetime.now().astimezone(),
            }
            for r in records
        ],
    )
    ids = campaign_ids(session, store.account_id, {r.external_id for r in records})
    link_campaign_events(session, store.account_id, ids.keys())
    previews = [
        {
            "campaign_id": ids[r.external_id],
            "content_type": r.preview_content_type or "text/html",
            "content": r.preview,
            "sha256": hashlib.sha256(r.preview).hexdigest(),
        }
        for r in records
        if r.preview is not None
    ]
    if previews:
        session.execute(
            insert_for(session, table_of(CampaignPreview)).on_conflict_do_nothing(
                index_elements=["campaign_id", "sha256"]
            ),
            previews,
        )
    outcome.written = len(records)
    return outcome


def ingest_sends(session: Session, store: Store, records: Sequence[SendRecord]) -> Outcome:
    """Upsert campaign sends per (campaign, contact); a later status and its time add to the earlier ones.

    Opens, clicks and QR scans that arrived before the send are applied to it.
    """
    outcome = Outcome()
    lock_campaigns(session, store.account_id, (r.campaign_id for r in records))
    campaigns = campaign_ids(session, store.account_id, {r.campaign_id for r in records})
    contacts = ContactResolver(session, store).resolve(
        [(r.customer_id, r.email) for r in records],
        [r.sent_at or r.queued_at or datetime.now().astimezone() for r in records],
    )
    latest_preview = dict(
        session.execute(
            select(CampaignPreview.campaign_id, func.max(CampaignPreview.id))
            .where(CampaignPreview.campaign_id.in_(list(campaigns.values()) or [0]))
            .group_by(CampaignPreview.campaign_id)
        ).all()
    )
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for position, (record, contact_id) in enumerate(zip(records, contacts, strict=True)):
        campaign_id = campaigns.get(record.campaign_id)
        if campaign_id is None or contact_id is None:
            field = "campaign_id" if campaign_id is None else "email"
            outcome.skipped.append(
                {"index": position, "field": field, "reason": "unknown campaign or contact"}
            )
            continue
        rows[(campaign_id, contact_id)] = {
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "preview_id": latest_preview.get(campaign_id),
            "status": record.status,
            **{t: getattr(record, t) for t in SEND_TIMES},
        }
    if not rows:
        return outcome
    table = table_of(CampaignSend)
    stmt = insert_for(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "contact_id"],
        set_={"status": stmt.excluded.status}
        | {t: func.coalesce(stmt.excluded[t], table.c[t]) for t in SEND_TIMES},
    ).returning(table.c.id)
    # Opens, clicks and scans stored before their send mark it now.
    mark_sends(session, list(session.execute(stmt, list(rows.values())).scalars()))
    outcome.written = len(rows)
    outcome.contact_ids = {contact_id for _, contact_id in rows}
    return outcome
