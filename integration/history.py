"""Daily snapshots of the contact groups and the 30-day change of each group, with its movements.

A snapshot records, once per UTC day, how many contacts each (subscription, engagement) pair has.
The 30-day change compares a group's count now with the snapshot of 30 days ago and explains the
difference from the transition logs written since that snapshot was taken:

    now − then = new + moved_in − moved_out − unsubscribed_or_deleted

`new`: first classified since; `moved_in`: came from another group or (re)joined the subscription
filter; `moved_out`: went to another group; `unsubscribed_or_deleted`: left the subscription filter
or was deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.ingest.common import chunks, insert_for
from integration.store.models import (
    Contact,
    ContactSnapshot,
    EngagementStatus,
    EngagementTransition,
    SubscriptionStatus,
    SubscriptionTransition,
    table_of,
)

WINDOW = timedelta(days=30)
GROUPS = (EngagementStatus.ENGAGED, EngagementStatus.UNENGAGED, EngagementStatus.BLOCKED)


def take_snapshot(session: Session, now: datetime) -> int:
    """Record today's group counts for every account (the first run of a UTC day wins); return rows added."""
    counts = session.execute(
        select(Contact.account_id, Contact.subscription_status, Contact.engagement_status, func.count())
        .where(Contact.deleted_at.is_(None), Contact.engagement_status.is_not(None))
        .group_by(Contact.account_id, Contact.subscription_status, Contact.engagement_status)
    ).all()
    rows = [
        {
            "account_id": a,
            "day": now.date(),
            "subscription_status": s,
            "engagement_status": e,
            "contacts": n,
            "taken_at": now,
        }
        for a, s, e, n in counts
    ]
    if not rows:
        return 0
    table = table_of(ContactSnapshot)
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(
            index_elements=["account_id", "day", "subscription_status", "engagement_status"]
        )
        .returning(table.c.account_id)
    )
    return len(session.execute(stmt, rows).all())


def thirty_day_change(
    session: Session, account_id: int, statuses: Sequence[SubscriptionStatus], now: datetime
) -> dict[str, dict[str, Any]] | None:
    """Each group's change against the snapshot of 30 days ago (or the first one since); None without one."""
    day = session.scalar(
        select(func.min(ContactSnapshot.day)).where(
            ContactSnapshot.account_id == account_id, ContactSnapshot.day >= (now - WINDOW).date()
        )
    )
    if day is None:
        return None
    snapshot = session.execute(
        select(
            ContactSnapshot.subscription_status,
            ContactSnapshot.engagement_status,
            ContactSnapshot.contacts,
            ContactSnapshot.taken_at,
        ).where(ContactSnapshot.account_id == account_id, ContactSnapshot.day == day)
    ).all()
    since = min(row.taken_at for row in snapshot)
    then = {
        g: sum(r.contacts for r in snapshot if r.engagement_status == g and r.subscription_status in statuses)
        for g in GROUPS
    }
    now_counts = dict(
        session.execute(
            select(Contact.engagement_status, func.count())
            .where(
                Contact.account_id == account_id,
                Contact.deleted_at.is_(None),
                Contact.subscription_status.in_(statuses),
                Contact.engagement_status.is_not(None),
            )
            .group_by(Contact.engagement_status)
        ).all()
    )
    moves = {g: {"new": 0, "moved_in": 0, "moved_out": 0, "unsubscribed_or_deleted": 0} for g in GROUPS}
    _movements(session, account_id, set(statuses), since, moves)
    result: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        before, after = then[group], now_counts.get(group, 0)
        change = None
        if before:
            change = str((Decimal(after - before) * 100 / before).quantize(Decimal("0.01"), ROUND_HALF_UP))
        result[group.value] = {
            "since": since.isoformat(),
            "count_then": before,
            "percent_change": change,
            **moves[group],
        }
    return result


def _movements(
    session: Session,
    account_id: int,
    statuses: set[SubscriptionStatus],
    since: datetime,
    moves: dict[Any, Any],
) -> None:
    engagement_before = _first_from(session, EngagementTransition, account_id, since)
    subscription_before = _first_from(session, SubscriptionTransition, account_id, since)
    deleted = session.scalars(
        select(Contact.id).where(Contact.account_id == account_id, Contact.deleted_at > since)
    ).all()
    changed = sorted(set(engagement_before) | set(subscription_before) | set(deleted))
    for part in chunks(changed):
        current = session.execute(
            select(
                Contact.id, Contact.engagement_status, Contact.subscription_status, Contact.deleted_at
            ).where(Contact.id.in_(part))
        ).all()
        for contact_id, engagement, subscription, deleted_at in current:
            existed = not (contact_id in engagement_before and engagement_before[contact_id] is None)
            then_engagement = engagement_before.get(contact_id, engagement)
            then_subscription = subscription_before.get(contact_id, subscription)
            for group in GROUPS:
                was = existed and then_engagement == group and then_subscription in statuses
                now_in = deleted_at is None and engagement == group and subscription in statuses
                if now_in and not was:
                    moves[group]["new" if not existed else "moved_in"] += 1
                elif was and not now_in:
                    gone = deleted_at is not None or subscription not in statuses
                    moves[group]["unsubscribed_or_deleted" if gone else "moved_out"] += 1


def _first_from(session: Session, model: Any, account_id: int, since: datetime) -> dict[int, Any]:
    """Each contact's state before its first logged change after `since` (None: not classified then)."""
    first = (
        select(model.contact_id, func.min(model.id).label("first_id"))
        .where(model.account_id == account_id, model.at > since)
        .group_by(model.contact_id)
        .subquery()
    )
    rows = session.execute(
        select(model.contact_id, model.from_status).join(first, model.id == first.c.first_id)
    )
    return {contact_id: status for contact_id, status in rows}
