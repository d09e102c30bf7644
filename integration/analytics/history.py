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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, bindparam, case, column, func, or_, select, text, union
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from integration.store.bulk import insert_for
from integration.store.models import (
    Contact,
    ContactSnapshot,
    EngagementStatus,
    EngagementTransition,
    SubscriptionStatus,
    SubscriptionTransition,
    table_of,
)
from integration.store.types import UTCDateTime

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


@dataclass(frozen=True)
class Movements:
    """What the 30-day change of every subscription filter needs, read once.

    `then`: the snapshot's counts by (subscription, engagement). `combos`: the contacts that changed
    since the snapshot, counted by (existed then, engagement then, subscription then, engagement
    now, subscription now, deleted) — a handful of rows whatever the number of contacts.
    """

    since: datetime
    then: list[tuple[SubscriptionStatus, EngagementStatus, int]]
    combos: list[tuple[bool, Any, Any, Any, Any, bool, int]]


def snapshot_then(
    session: Session, account_id: int, now: datetime
) -> tuple[datetime, list[tuple[SubscriptionStatus, EngagementStatus, int]]] | None:
    """The snapshot of 30 days ago (or the first one since): when it was taken, and its counts.

    None when there is no snapshot that recent.
    """
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
    return since, [(row.subscription_status, row.engagement_status, row.contacts) for row in snapshot]


def movements(session: Session, account_id: int, now: datetime) -> Movements | None:
    """Read the snapshot of 30 days ago (or the first one since) and count the changes after it afresh.

    None when there is no snapshot that recent. The statistics keep these counts current instead
    (`integration.analytics.counted`); this is what they always equal.
    """
    found = snapshot_then(session, account_id, now)
    if found is None:
        return None
    since, then = found
    return Movements(since, then, _combos(session, account_id, since))


def thirty_day_change(
    moved: Movements, statuses: Sequence[SubscriptionStatus], now_counts: dict[EngagementStatus, int]
) -> dict[str, dict[str, Any]]:
    """Each group's change against the snapshot in `moved`, for one subscription filter.

    `now_counts`: the filter's current count of each group. `moved` is read once (`movements`) for
    every filter.
    """
    then = {g: sum(n for status, group, n in moved.then if group == g and status in statuses) for g in GROUPS}
    moves = {g: {"new": 0, "moved_in": 0, "moved_out": 0, "unsubscribed_or_deleted": 0} for g in GROUPS}
    admitted = set(statuses)
    for existed, then_engagement, then_subscription, engagement, subscription, deleted, n in moved.combos:
        for group in GROUPS:
            was = existed and then_engagement == group and then_subscription in admitted
            now_in = not deleted and engagement == group and subscription in admitted
            if now_in and not was:
                moves[group]["new" if not existed else "moved_in"] += n
            elif was and not now_in:
                gone = deleted or subscription not in admitted
                moves[group]["unsubscribed_or_deleted" if gone else "moved_out"] += n
    result: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        before, after = then[group], now_counts.get(group, 0)
        change = None
        if before:
            change = str((Decimal(after - before) * 100 / before).quantize(Decimal("0.01"), ROUND_HALF_UP))
        result[group.value] = {
            "since": moved.since.isoformat(),
            "count_then": before,
            "percent_change": change,
            **moves[group],
        }
    return result


# PostgreSQL: each contact's first logged change since the snapshot by DISTINCT ON — one sort of the
# changes, whatever the planner believes about how many there are (the newest log rows are the
# ones its statistics know least about, and a nested loop over a misjudged join is quadratic).
CHANGED_SQL = """
WITH eb AS (SELECT DISTINCT ON (contact_id) contact_id, from_status FROM engagement_transitions
            WHERE account_id = :account AND at > :since {only} ORDER BY contact_id, id),
     sb AS (SELECT DISTINCT ON (contact_id) contact_id, from_status FROM subscription_transitions
            WHERE account_id = :account AND at > :since {only} ORDER BY contact_id, id),
     logged AS (SELECT coalesce(eb.contact_id, sb.contact_id) AS contact_id,
                       eb.contact_id IS NOT NULL AS has_e, eb.from_status AS then_e,
                       sb.contact_id IS NOT NULL AS has_s, sb.from_status AS then_s
                FROM eb FULL JOIN sb ON sb.contact_id = eb.contact_id),
     changed AS (SELECT * FROM logged
                 UNION ALL
                 SELECT id, false, NULL, false, NULL FROM contacts
                 WHERE account_id = :account AND deleted_at > :since {only_contacts}
                   AND id NOT IN (SELECT contact_id FROM logged))
SELECT c.id AS contact_id, c.account_id AS account_id,
       NOT ch.has_e OR ch.then_e IS NOT NULL AS existed,
       CASE WHEN ch.has_e THEN ch.then_e ELSE c.engagement_status END AS then_engagement,
       CASE WHEN ch.has_s THEN ch.then_s ELSE c.subscription_status END AS then_subscription,
       c.engagement_status AS engagement_status, c.subscription_status AS subscription_status,
       c.deleted_at IS NOT NULL AS deleted
FROM changed ch JOIN contacts c ON c.id = ch.contact_id
"""

MOVE_COLUMNS = (
    "contact_id",
    "account_id",
    "existed",
    "then_engagement",
    "then_subscription",
    "engagement_status",
    "subscription_status",
    "deleted",
)


def changed_since(
    session: Session, account_id: int, since: datetime, ids: Sequence[int] | None = None
) -> Any:
    """A select of each contact changed since `since` (of these only, if given), one row each with
    `MOVE_COLUMNS`: whether it existed then, its group and subscription then and now, and whether it
    is deleted. Changed: a logged engagement or subscription change since, or deleted since.
    """
    if session.get_bind().dialect.name == "postgresql":
        sql = CHANGED_SQL.format(
            only="AND contact_id = ANY(:ids)" if ids is not None else "",
            only_contacts="AND id = ANY(:ids)" if ids is not None else "",
        )
        params: list[Any] = [
            bindparam("account", account_id),
            bindparam("since", since, type_=UTCDateTime(timezone=True)),
        ]
        if ids is not None:
            params.append(bindparam("ids", list(ids), type_=postgresql.ARRAY(BigInteger())))
        return (
            text(sql)
            .bindparams(*params)
            .columns(
                column("contact_id", BigInteger()),
                column("account_id", BigInteger()),
                column("existed", Boolean()),
                column("then_engagement", String()),
                column("then_subscription", String()),
                column("engagement_status", String()),
                column("subscription_status", String()),
                column("deleted", Boolean()),
            )
        )
    engagement_before = _first_from(EngagementTransition, account_id, since, ids)
    subscription_before = _first_from(SubscriptionTransition, account_id, since, ids)
    deleted_since = [Contact.account_id == account_id, Contact.deleted_at > since]
    if ids is not None:
        deleted_since.append(Contact.id.in_(ids))
    changed = union(
        select(engagement_before.c.contact_id),
        select(subscription_before.c.contact_id),
        select(Contact.id).where(*deleted_since),
    ).subquery()
    logged_engagement = engagement_before.c.contact_id.is_not(None)
    logged_subscription = subscription_before.c.contact_id.is_not(None)
    # Not classified before its first logged change: the contact did not exist then.
    existed = or_(~logged_engagement, engagement_before.c.from_status.is_not(None))
    then_engagement = case(
        (logged_engagement, engagement_before.c.from_status), else_=Contact.engagement_status
    )
    then_subscription = case(
        (logged_subscription, subscription_before.c.from_status), else_=Contact.subscription_status
    )
    return (
        select(
            Contact.id.label("contact_id"),
            Contact.account_id.label("account_id"),
            existed.label("existed"),
            then_engagement.label("then_engagement"),
            then_subscription.label("then_subscription"),
            Contact.engagement_status.label("engagement_status"),
            Contact.subscription_status.label("subscription_status"),
            Contact.deleted_at.is_not(None).label("deleted"),
        )
        .select_from(changed)
        .join(Contact, Contact.id == changed.c.contact_id)
        .outerjoin(engagement_before, engagement_before.c.contact_id == Contact.id)
        .outerjoin(subscription_before, subscription_before.c.contact_id == Contact.id)
    )


Combo = tuple[bool, Any, Any, Any, Any, bool]


def combo(row: Sequence[Any]) -> Combo:
    """(existed, engagement then, subscription then, engagement now, subscription now, deleted)
    as states, from a row of those six values as stored."""
    existed, then_engagement, then_subscription, engagement, subscription, deleted = row
    return (
        bool(existed),
        _state(EngagementStatus, then_engagement),
        _state(SubscriptionStatus, then_subscription),
        _state(EngagementStatus, engagement),
        _state(SubscriptionStatus, subscription),
        bool(deleted),
    )


def _combos(
    session: Session, account_id: int, since: datetime
) -> list[tuple[bool, Any, Any, Any, Any, bool, int]]:
    """Count the contacts changed since `since` by their state then and now, in one statement."""
    changed = changed_since(session, account_id, since).subquery()
    keys = [changed.c[name] for name in MOVE_COLUMNS[2:]]
    rows = session.execute(select(*keys, func.count()).group_by(*keys)).all()
    return [(*combo(row[:6]), row[6]) for row in rows]


def _state(kind: Any, value: Any) -> Any:
    return kind(value) if value is not None else None


def _first_from(model: Any, account_id: int, since: datetime, ids: Sequence[int] | None = None) -> Any:
    """Each contact's state before its first logged change after `since` (None: not classified then)."""
    logged = [model.account_id == account_id, model.at > since]
    if ids is not None:
        logged.append(model.contact_id.in_(ids))
    first = (
        select(model.contact_id, func.min(model.id).label("first_id"))
        .where(*logged)
        .group_by(model.contact_id)
        .subquery()
    )
    return select(model.contact_id, model.from_status).join(first, model.id == first.c.first_id).subquery()


def trend_start(days: int, now: datetime) -> date:
    """The first day of a trend of `days` days ending today (UTC)."""
    return (now - timedelta(days=days - 1)).date()


def trend(
    session: Session, account_id: int, statuses: Sequence[SubscriptionStatus], since: date
) -> list[dict[str, Any]]:
    """Each day's count of every group from the daily snapshots since `since`, oldest first."""
    rows = session.execute(
        select(ContactSnapshot.day, ContactSnapshot.engagement_status, func.sum(ContactSnapshot.contacts))
        .where(
            ContactSnapshot.account_id == account_id,
            ContactSnapshot.day >= since,
            ContactSnapshot.subscription_status.in_(list(statuses)),
        )
        .group_by(ContactSnapshot.day, ContactSnapshot.engagement_status)
        .order_by(ContactSnapshot.day)
    ).all()
    days: dict[date, dict[str, Any]] = {}
    for day, group, contacts in rows:
        point = days.setdefault(day, {"day": day.isoformat(), **{g.value: 0 for g in GROUPS}})
        point[group.value] = int(contacts)
    return list(days.values())


# The scheduler enqueues the snapshot job hourly (jobs/schedule.py): each run adds the rows of the
# day that are still missing, so a group with no row today gets one within the hour.
SNAPSHOT_INTERVAL = timedelta(hours=1)


def next_snapshot_at(session: Session, account_id: int, now: datetime) -> datetime:
    """The time by which the account's next daily count is taken (UTC).

    Within the hour when today has no count yet; else within the first hour of the next UTC day.
    """
    taken_today = session.scalar(
        select(ContactSnapshot.day)
        .where(ContactSnapshot.account_id == account_id, ContactSnapshot.day == now.date())
        .limit(1)
    )
    if taken_today is None:
        start = now
    else:
        start = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
    return (start + SNAPSHOT_INTERVAL + timedelta(seconds=59)).replace(second=0, microsecond=0)
