"""Engagement classification: engaged, unengaged or blocked, set-based over contacts.

A contact is *blocked* after a hard bounce or spam complaint (this wins), *engaged* when its last
counted interaction lies inside the account's time frame, and *unengaged* otherwise. The last
counted interaction is kept current at ingest, so classification reads contacts only; every change
of group is appended to the transition log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, literal, or_, select, update
from sqlalchemy.orm import Session

from integration.store.bulk import among, chunks, rows_table
from integration.store.models import Account, Contact, EngagementStatus, EngagementTransition, table_of
from integration.store.types import utcnow

logger = logging.getLogger(__name__)

MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 730


def classify(
    session: Session,
    account_id: int,
    contact_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    *,
    only_expired: bool = False,
) -> int:
    """Bring contacts' engagement status up to date; return how many changed group.

    `contact_ids` limits the work to those contacts (after new interactions); `only_expired`
    limits it to engaged contacts whose last interaction has left the window (an indexed range).
    With neither, every contact of the account is reclassified (after a time-frame change).
    The account's `classified_at` records passes over the whole account (all or only expired).
    """
    account = session.get(Account, account_id)
    if account is None:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(days=account.engagement_window_days)
    target, reason, since = _group_of(cutoff, now, Contact.last_interaction_at, Contact.last_interaction_type)
    base: list[Any] = [
        Contact.account_id == account_id,
        Contact.deleted_at.is_(None),
        Contact.engagement_status.is_distinct_from(target),
    ]
    if only_expired:
        base += [
            Contact.engagement_status == EngagementStatus.ENGAGED,
            Contact.last_interaction_at < cutoff,
        ]
    scopes: list[list[Any]] = (
        [[*base]]
        if contact_ids is None
        else [[*base, among(session, Contact.id, p)] for p in chunks(sorted(set(contact_ids)))]
    )
    changed = 0
    for where in scopes:
        session.execute(_transitions(target, reason, now, where))
        result = session.execute(
            update(Contact)
            .where(*where)
            .values(engagement_status=target, engagement_reason=reason, engagement_since=since)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0  # type: ignore[attr-defined]
    if contact_ids is None:
        # Only a pass over the whole account writes the account row: ingest classifies the contacts
        # of each batch inside its own transaction, and a write here would lock the account until
        # that transaction commits, so two workers storing the same account's records would each
        # wait for the other (a deadlock) or take turns.
        account.classified_at = now
    if changed:
        logger.info("account %s: %d contacts changed engagement group", account_id, changed)
    return changed


def _transitions(target: Any, reason: Any, now: datetime, where: list[Any]) -> Any:
    """The INSERT logging each contact `where` holds moving from its group to `target`."""
    return (
        table_of(EngagementTransition)
        .insert()
        .from_select(
            ["account_id", "contact_id", "from_status", "to_status", "at", "reason"],
            select(
                Contact.account_id,
                Contact.id,
                Contact.engagement_status,
                target,
                literal(now, EngagementTransition.at.type),
                reason,
            ).where(*where),
        )
    )


def _group_of(cutoff: datetime, now: datetime, last_at: Any, last_type: Any) -> tuple[Any, Any, Any]:
    """A contact's group, its reason and since when, given its last interaction (time and type)."""
    target = case(
        (Contact.blocked_reason.is_not(None), EngagementStatus.BLOCKED.value),
        (last_at >= cutoff, EngagementStatus.ENGAGED.value),
        else_=EngagementStatus.UNENGAGED.value,
    )
    reason = case(
        (Contact.blocked_reason.is_not(None), Contact.blocked_reason),
        (last_at >= cutoff, last_type),
        (last_at.is_not(None), "window_expired"),
        else_="no_interaction",
    )
    since = case(
        (Contact.blocked_reason.is_not(None), Contact.blocked_at),
        (last_at >= cutoff, last_at),
        (last_at.is_not(None), literal(now, Contact.engagement_since.type)),
        else_=Contact.first_seen_at,
    )
    return target, reason, since


Interactions = Callable[[Sequence[int]], Any]


def classify_after(
    session: Session,
    account_id: int,
    contact_ids: Iterable[int],
    interactions: Interactions,
    now: datetime | None = None,
) -> int:
    """Move these contacts' last interaction forward to the newer ones `interactions` gives, and
    bring their engagement status up to date, each contact updated once; return how many changed
    group.

    The same rows as setting the last interactions first and then calling `classify`, with each
    contact written once instead of twice (every index of `contacts` is written with each
    version). `interactions(ids)` is a derived table of (`contact_id`, `at`, `type`) for some of
    `ids`, at most one row a contact, read once a part; a contact's last interaction moves where
    its row is newer (a deleted contact's too, though it keeps its group).
    """
    account = session.get(Account, account_id)
    if account is None:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(days=account.engagement_window_days)
    changed = 0
    for part in chunks(sorted(set(contact_ids))):
        # Read once: both statements below join them (as a subquery, each would compute them anew).
        read = session.execute(select(*interactions(part).c)).all()
        newer = rows_table(
            session,
            "newer",
            {"contact_id": Contact.id.type, "at": Contact.last_interaction_at.type, "type": String()},
            [{"contact_id": contact_id, "at": at, "type": kind} for contact_id, at, kind in read],
        )
        found = (
            select(Contact.id.label("id"), newer.c.at, newer.c.type)
            .select_from(Contact)
            .outerjoin(newer, newer.c.contact_id == Contact.id)
            .where(Contact.account_id == account_id, among(session, Contact.id, part))
            .subquery("found")
        )
        moves = and_(
            found.c.at.is_not(None),
            or_(Contact.last_interaction_at.is_(None), Contact.last_interaction_at < found.c.at),
        )
        last_at = case((moves, found.c.at), else_=Contact.last_interaction_at)
        last_type = case((moves, found.c.type), else_=Contact.last_interaction_type)
        target, reason, since = _group_of(cutoff, now, last_at, last_type)
        regroups = and_(Contact.deleted_at.is_(None), Contact.engagement_status.is_distinct_from(target))
        mine = [Contact.id == found.c.id, Contact.account_id == account_id]
        logged = session.execute(
            _transitions(target, reason, now, [*mine, regroups]).returning(
                table_of(EngagementTransition).c.contact_id
            )
        )
        changed += len(logged.all())  # counted as returned: its row count came back as -1 on PostgreSQL
        session.execute(
            update(Contact)
            .where(*mine, or_(regroups, moves))
            .values(
                last_interaction_at=last_at,
                last_interaction_type=last_type,
                engagement_status=case((regroups, target), else_=Contact.engagement_status),
                engagement_reason=case((regroups, reason), else_=Contact.engagement_reason),
                engagement_since=case((regroups, since), else_=Contact.engagement_since),
            )
            .execution_options(synchronize_session=False)
        )
    if changed:
        logger.info("account %s: %d contacts changed engagement group", account_id, changed)
    return changed


def expire_all(session: Session, now: datetime | None = None) -> int:
    """Move engaged contacts whose last interaction left the window to unengaged, in every account."""
    now = now or utcnow()
    return sum(
        classify(session, account_id, now=now, only_expired=True)
        for account_id in session.scalars(select(Account.id)).all()
    )


def set_window(session: Session, account_id: int, days: int) -> None:
    """Change an account's engagement time frame (whole days, 7 to 730)."""
    if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"the time frame must be {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days")
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    account.engagement_window_days = days
