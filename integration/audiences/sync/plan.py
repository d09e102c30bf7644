"""The sync planner: the difference between a segment as it is now and what a destination has.

A sync remembers per contact what it last delivered (`sync_states`: a digest of the payload,
whether the contact is in the destination, the address and the destination's id for it). The plan
compares the segment with that memory, page by page in contact order (constant memory), and yields
only adds, updates and removes. A dry run (`preview`) walks the same plan and sends nothing, so its
counts are what the next run sends.

Consent for marketing audiences: only subscribed, unblocked contacts with an email are ever planned
as members; a member who unsubscribes, is blocked or deleted is removed with that reason (which
lets a destination unsubscribe rather than just untag). Nothing here subscribes anybody who was
not subscribed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, null, select
from sqlalchemy.orm import Session

from integration.audiences import filters
from integration.audiences.consent import can_receive_marketing
from integration.contract import ADD, BLOCKED, DELETED, LEFT, REMOVE, UNSUBSCRIBED, UPDATE, Change, Target
from integration.store.models import (
    Contact,
    Segment,
    StoreCustomer,
    SubscriptionStatus,
    Sync,
    SyncMode,
    SyncState,
)
from integration.store.types import utcnow

PAGE_SIZE = 5000  # contacts compared per page of the plan
SAMPLE_SIZE = 10  # contacts shown per action in a dry run


def digest_of(payload: Sequence[Any]) -> str:
    """A short digest of what is sent for a contact (fields joined by a separator they cannot hold)."""
    joined = "\x1f".join("" if value is None else str(value) for value in payload)
    return hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()


def desired_contacts(session: Session, sync: Target, segment: Segment, now: datetime) -> Any:
    """The statement of the contacts that should be in the destination, with what is sent for them."""
    condition = filters.compile_filter(session, filters.parse(segment.filter), now)
    scope = [Contact.account_id == sync.account_id, Contact.deleted_at.is_(None), condition]
    if sync.mode == SyncMode.AUDIENCE:
        # Marketing audiences: consent first, whatever the segment says.
        scope.append(can_receive_marketing())
        remote = None
    else:
        store_id = int((sync.config or {}).get("store_id") or 0)
        remote = (
            select(func.min(StoreCustomer.external_id))
            .where(StoreCustomer.contact_id == Contact.id, StoreCustomer.store_id == store_id)
            .scalar_subquery()
        )
        linked = select(StoreCustomer.id).where(
            StoreCustomer.contact_id == Contact.id, StoreCustomer.store_id == store_id
        )
        scope.append(linked.exists())
    columns: list[Any] = [Contact.id, Contact.email, Contact.first_name, Contact.last_name]
    columns.append(remote.label("remote") if remote is not None else null().label("remote"))
    return select(*columns).where(*scope)


def _removal_reason(row: Any) -> str:
    if row.contact_deleted is not None or row.contact_email is None:
        return DELETED
    if row.blocked_reason is not None:
        return BLOCKED
    if row.subscription_status != SubscriptionStatus.SUBSCRIBED:
        return UNSUBSCRIBED
    return LEFT


def plan(session: Session, sync: Sync | Target, now: datetime | None = None) -> Iterator[Change]:
    """Yield the changes a run of `sync` has to send, in contact order, page by page.

    Contacts that were never delivered and are no longer wanted need no change.
    """
    now = now or utcnow()
    target = Target.of(sync)
    cursor: int | None = 0
    while cursor is not None:
        changes, cursor, _ = plan_page(session, target, cursor, now)
        yield from changes


def plan_page(
    session: Session, sync: Target, cursor: int, now: datetime
) -> tuple[list[Change], int | None, int]:
    """The changes for the next PAGE_SIZE wanted contacts after `cursor`, the next cursor (None: done)
    and how many contacts of the page are wanted."""
    segment = session.get(Segment, sync.segment_id)
    if segment is None:
        return [], None, 0
    desired = desired_contacts(session, sync, segment, now)
    page = session.execute(desired.where(Contact.id > cursor).order_by(Contact.id).limit(PAGE_SIZE)).all()
    upper = page[-1].id if len(page) == PAGE_SIZE else None
    state_scope = [SyncState.sync_id == sync.id, SyncState.contact_id > cursor]
    if upper is not None:
        state_scope.append(SyncState.contact_id <= upper)
    changes: list[Change] = []
    states = {
        row.contact_id: row
        for row in session.execute(
            select(
                SyncState.contact_id,
                SyncState.digest,
                SyncState.member,
                SyncState.address,
                SyncState.remote_id,
                SyncState.attempts,
                SyncState.delivered_at,
                Contact.email.label("contact_email"),
                Contact.deleted_at.label("contact_deleted"),
                Contact.blocked_reason,
                Contact.subscription_status,
            )
            .join(Contact, Contact.id == SyncState.contact_id, isouter=True)
            .where(*state_scope)
        )
    }
    wanted = set()
    tags = sync.mode == SyncMode.TAGS
    tag = sync.config.get("tag")
    for contact_id, email, first_name, last_name, remote in page:
        wanted.add(contact_id)
        digest = digest_of([remote, tag] if tags else [email, first_name, last_name])
        state = states.get(contact_id)
        if state is None:
            changes.append(
                Change(
                    ADD,
                    contact_id,
                    email,
                    None,
                    first_name,
                    last_name,
                    remote if tags else None,
                    digest=digest,
                )
            )
            continue
        if state.digest == digest:
            continue  # delivered as it is now, or given up on until it changes
        delivered = state.member and state.delivered_at is not None
        changes.append(
            Change(
                action=UPDATE if delivered else ADD,
                contact_id=contact_id,
                email=email,
                first_name=first_name,
                last_name=last_name,
                previous_email=state.address if state.member else None,
                remote_id=(remote if tags else None) or state.remote_id,
                digest=digest,
                # New data (a digest was recorded before) deserves fresh attempts.
                attempts=0 if state.digest is not None else state.attempts,
                known=True,
                previous_remote_id=state.remote_id
                if tags and state.member and state.remote_id and state.remote_id != remote
                else None,
                delivered_at=state.delivered_at,
            )
        )
    for contact_id in sorted(set(states) - wanted):
        state = states[contact_id]
        if state.member:
            changes.append(
                Change(
                    action=REMOVE,
                    contact_id=contact_id,
                    email=state.address,
                    remote_id=state.remote_id,
                    reason=_removal_reason(state),
                    attempts=state.attempts,
                    known=True,
                    delivered_at=state.delivered_at,
                )
            )
    return changes, upper, len(page)


def counts(session: Session, sync: Sync) -> dict[str, int]:
    """How many contacts the destination has from this sync, and how many are failing."""
    members = session.scalar(
        select(func.count()).where(
            SyncState.sync_id == sync.id, SyncState.member.is_(True), SyncState.error.is_(None)
        )
    )
    failing = session.scalar(
        select(func.count()).where(SyncState.sync_id == sync.id, SyncState.error.is_not(None))
    )
    return {"delivered": members or 0, "failing": failing or 0}


def preview(session: Session, sync: Sync, now: datetime | None = None) -> dict[str, Any]:
    """A dry run: what the next run would send (counts and a sample), sending nothing."""
    now = now or utcnow()
    totals = {ADD: 0, UPDATE: 0, REMOVE: 0}
    sample: dict[str, list[dict[str, Any]]] = {ADD: [], UPDATE: [], REMOVE: []}
    target, wanted = Target.of(sync), 0
    cursor: int | None = 0
    while cursor is not None:
        changes, cursor, page_wanted = plan_page(session, target, cursor, now)
        wanted += page_wanted
        for change in changes:
            totals[change.action] += 1
            if len(sample[change.action]) < SAMPLE_SIZE:
                sample[change.action].append(
                    {"contact_id": change.contact_id, "email": change.email, "reason": change.reason}
                )
    return {
        "adds": totals[ADD],
        "updates": totals[UPDATE],
        "removes": totals[REMOVE],
        "unchanged": wanted - totals[ADD] - totals[UPDATE],
        "sample": {"adds": sample[ADD], "updates": sample[UPDATE], "removes": sample[REMOVE]},
    }
