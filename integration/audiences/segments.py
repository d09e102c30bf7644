"""Saved segments: a name and a filter in the one filter language, their members and how they changed.

A segment's members are kept in `segment_members`, refreshed set-based when the segment is saved or
edited and periodically as the data changes; every contact entering or leaving is logged with when
and why (`edited` or `data`), which gives each segment its size history. Predefined segments come
with every account: engaged subscribed contacts (the newsletter default), unengaged, blocked,
sunset candidates (subscribed contacts without a counted interaction for the time frame plus the
account's sunset period, 180 days by default: the ones a last-chance message should go to), each
RFM segment and each spender tier. They are kept in step with the account's settings and cannot be
edited or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import BigInteger, String, and_, delete, exists, func, literal, select
from sqlalchemy.orm import Session

from integration.analytics import rfm
from integration.audiences import filters
from integration.audiences.consent import can_receive_marketing
from integration.contacts.lists import describe
from integration.errors import RequestRefused
from integration.store.db import required_account_row
from integration.store.models import Account, Contact, Segment, SegmentChange, SegmentMember, table_of
from integration.store.types import UTCDateTime, utcnow

PREVIEW_SIZE = 20


class SegmentError(RequestRefused, ValueError):
    """A segment cannot be saved as asked; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason)


def predefined(account: Account) -> list[dict[str, Any]]:
    """The segments every account has, with filters that follow its current settings."""
    beyond = account.engagement_window_days + account.sunset_days
    rows: list[dict[str, Any]] = [
        {
            "key": "engaged_subscribed",
            "name": "Engaged subscribers",
            "description": "subscribed and engaged: the newsletter default",
            "filter": {"all": [{"engagement": ["engaged"]}, {"subscription": ["subscribed"]}]},
        },
        {
            "key": "unengaged",
            "name": "Unengaged",
            "description": None,
            "filter": {"engagement": ["unengaged"]},
        },
        {"key": "blocked", "name": "Blocked", "description": None, "filter": {"engagement": ["blocked"]}},
        {
            "key": "sunset",
            "name": "Sunset candidates",
            "description": (
                f"subscribed, no counted interaction in {beyond} days "
                f"(the time frame + {account.sunset_days})"
            ),
            "filter": {
                "all": [
                    {"subscription": ["subscribed"]},
                    {"engagement": ["unengaged"]},
                    {"not_interacted_within_days": beyond},
                ]
            },
        },
    ]
    # One segment per name: a name may span several rules of the scheme.
    for name in [*rfm.segment_names(account.rfm_scheme or rfm.DEFAULT_SCHEME), rfm.PROSPECTS]:
        rows.append(
            {
                "key": f"rfm:{name}",
                "name": f"RFM: {name}",
                "description": None,
                "filter": {"rfm_segment": [name]},
            }
        )
    for tier in rfm.TIERS:
        rows.append(
            {
                "key": f"tier:{tier}",
                "name": f"{tier.capitalize()} spenders",
                "description": None,
                "filter": {"spender_tier": [tier]},
            }
        )
    rows.append(
        {
            "key": "frequent",
            "name": "Frequent buyers",
            "description": None,
            "filter": {"frequent_buyer": True},
        }
    )
    return rows


def ensure_predefined(session: Session, account_id: int) -> None:
    """Create the account's predefined segments, and bring their filters in step with its settings."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    existing = {
        s.key: s
        for s in session.scalars(
            select(Segment).where(Segment.account_id == account_id, Segment.predefined.is_(True))
        )
    }
    wanted = predefined(account)
    for row in wanted:
        segment = existing.get(row["key"])
        if segment is None:
            session.add(
                Segment(
                    account_id=account_id,
                    name=row["name"],
                    description=row["description"],
                    filter=row["filter"],
                    predefined=True,
                    key=row["key"],
                )
            )
        elif segment.filter != row["filter"] or segment.description != row["description"]:
            segment.filter, segment.description = row["filter"], row["description"]
    keys = {row["key"] for row in wanted}
    for key, segment in existing.items():
        if key not in keys:  # an RFM segment the account's scheme no longer has
            session.delete(segment)
    session.flush()


def check_filter(raw: Any) -> dict[str, Any]:
    try:
        return filters.parse(raw)
    except ValidationError as exc:
        raise SegmentError("invalid_filter", f"invalid filter: {exc.messages}") from exc


def preview(
    session: Session, account_id: int, raw_filter: Any, now: datetime | None = None
) -> dict[str, Any]:
    """How many contacts a filter selects now, and the first of them (before saving)."""
    condition = filters.compile_filter(session, check_filter(raw_filter), now or utcnow())
    scope = [Contact.account_id == account_id, Contact.deleted_at.is_(None), condition]
    count = session.scalar(select(func.count()).select_from(Contact).where(*scope)) or 0
    first = session.scalars(select(Contact).where(*scope).order_by(Contact.id).limit(PREVIEW_SIZE))
    return {"count": count, "contacts": [describe(c) for c in first]}


def save(
    session: Session,
    account_id: int,
    *,
    name: str,
    raw_filter: Any,
    description: str | None = None,
    segment_id: int | None = None,
) -> Segment:
    """Create a segment, or edit one (not a predefined one); its members are refreshed at once."""
    # Stored in its JSON form: amounts as decimal strings, as the API reads them back.
    condition = filters.canonical(check_filter(raw_filter))
    clash = session.scalar(
        select(Segment.id).where(Segment.account_id == account_id, Segment.name == name.strip())
    )
    if clash is not None and clash != segment_id:
        raise SegmentError("name_taken", f"a segment named {name!r} exists")
    if segment_id is None:
        segment = Segment(account_id=account_id, name=name.strip(), description=description, filter=condition)
        session.add(segment)
        session.flush()
        refresh(session, segment.id, reason="created")
        return segment
    segment = get(session, account_id, segment_id)
    if segment.predefined:
        raise SegmentError(
            "predefined", "predefined segments follow the account's settings and cannot be edited"
        )
    segment.name, segment.description, segment.filter = name.strip(), description, condition
    session.flush()
    refresh(session, segment.id, reason="edited")
    return segment


def get(session: Session, account_id: int, segment_id: int) -> Segment:
    return required_account_row(session, Segment, segment_id, account_id, "segment")


def remove(session: Session, account_id: int, segment_id: int) -> None:
    segment = get(session, account_id, segment_id)
    if segment.predefined:
        raise SegmentError("predefined", "predefined segments cannot be deleted")
    session.delete(segment)


def refresh(
    session: Session, segment_id: int, reason: str = "data", now: datetime | None = None
) -> dict[str, int]:
    """Bring a segment's members up to date set-based (no member list in memory); log who entered and left."""
    now = now or utcnow()
    segment = session.get(Segment, segment_id)
    if segment is None:
        return {"entered": 0, "left": 0}
    condition = filters.compile_filter(session, filters.parse(segment.filter), now)
    members = table_of(SegmentMember)
    changes = table_of(SegmentChange)
    matches = and_(Contact.account_id == segment.account_id, Contact.deleted_at.is_(None), condition)
    is_member = exists().where(members.c.segment_id == segment_id, members.c.contact_id == Contact.id)
    entering = select(Contact.id).where(matches, ~is_member)
    still = select(Contact.id).where(Contact.id == members.c.contact_id, matches).exists()
    leaving = select(members.c.contact_id).where(members.c.segment_id == segment_id, ~still)
    columns = ["segment_id", "contact_id", "change", "at", "reason"]

    def logged(change: str, ids: Any) -> Any:
        rows = ids.subquery()
        return changes.insert().from_select(
            columns,
            select(
                literal(segment_id, BigInteger()),
                rows.c[0],
                literal(change, String()),
                literal(now, UTCDateTime()),
                literal(reason, String()),
            ),
        )

    left = session.execute(logged("left", leaving)).rowcount  # type: ignore[attr-defined]
    entered = session.execute(logged("entered", entering)).rowcount  # type: ignore[attr-defined]
    session.execute(delete(members).where(members.c.segment_id == segment_id, ~still))
    session.execute(
        members.insert().from_select(
            ["segment_id", "contact_id", "since"],
            select(literal(segment_id, BigInteger()), Contact.id, literal(now, UTCDateTime())).where(
                matches, ~is_member
            ),
        )
    )
    segment.members_count = (
        session.scalar(select(func.count()).select_from(members).where(members.c.segment_id == segment_id))
        or 0
    )
    segment.refreshed_at = now
    session.flush()
    return {"entered": entered, "left": left}


def refresh_account(session: Session, account_id: int, now: datetime | None = None) -> int:
    """Refresh every segment of an account (the predefined ones made first); return how many."""
    ensure_predefined(session, account_id)
    ids = list(session.scalars(select(Segment.id).where(Segment.account_id == account_id)))
    for segment_id in ids:
        refresh(session, segment_id, now=now)
    return len(ids)


def describe_segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "filter": segment.filter,
        "predefined": segment.predefined,
        "key": segment.key,
        "members": segment.members_count,
        "refreshed_at": segment.refreshed_at.isoformat() if segment.refreshed_at else None,
        "updated_at": segment.updated_at.isoformat(),
    }


def history(session: Session, segment_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The latest entries and exits, newest first."""
    rows = session.execute(
        select(SegmentChange.contact_id, SegmentChange.change, SegmentChange.at, SegmentChange.reason)
        .where(SegmentChange.segment_id == segment_id)
        .order_by(SegmentChange.at.desc(), SegmentChange.id.desc())
        .limit(limit)
    )
    return [
        {"contact_id": c, "change": change, "at": at.isoformat(), "reason": reason}
        for c, change, at, reason in rows
    ]


def sizes(session: Session, segment_id: int) -> list[dict[str, Any]]:
    """The segment's size after each refresh that changed it, rebuilt from the change log."""
    rows = session.execute(
        select(SegmentChange.at, SegmentChange.change, func.count())
        .where(SegmentChange.segment_id == segment_id)
        .group_by(SegmentChange.at, SegmentChange.change)
        .order_by(SegmentChange.at)
    ).all()
    size, points = 0, {}
    for at, change, n in rows:
        size += n if change == "entered" else -n
        points[at] = size
    return [{"at": at.isoformat(), "members": n} for at, n in points.items()]


def reachable(session: Session, segment_id: int) -> dict[str, int]:
    """The segment's members, and how many of them can receive marketing email (as an audience sync adds)."""
    row = session.execute(
        select(func.count(), func.count().filter(can_receive_marketing()))
        .select_from(SegmentMember)
        .join(Contact, Contact.id == SegmentMember.contact_id)
        .where(SegmentMember.segment_id == segment_id, Contact.deleted_at.is_(None))
    ).one()
    return {"members": row[0], "marketable": row[1]}


def members(session: Session, segment_id: int, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """A page of the segment's members as of its last refresh, by contact id after `after`."""
    rows = session.scalars(
        select(Contact)
        .join(SegmentMember, SegmentMember.contact_id == Contact.id)
        .where(SegmentMember.segment_id == segment_id, Contact.id > after)
        .order_by(Contact.id)
        .limit(limit)
    ).all()
    return {
        "contacts": [describe(c) for c in rows],
        "next_after": rows[-1].id if len(rows) == limit else None,
    }


def member_ids(session: Session, segment_id: int) -> Sequence[int]:
    return session.scalars(
        select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment_id)
    ).all()


def contact_segments(session: Session, account_id: int, contact_id: int) -> list[dict[str, Any]]:
    """The segments the contact is in as of their last refresh, with when it entered each, latest first."""
    rows = session.execute(
        select(Segment.id, Segment.name, Segment.key, Segment.predefined, SegmentMember.since)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(Segment.account_id == account_id, SegmentMember.contact_id == contact_id)
        .order_by(SegmentMember.since.desc(), Segment.name)
    )
    return [
        {"id": i, "name": name, "key": key, "predefined": predefined, "since": since.isoformat()}
        for i, name, key, predefined, since in rows
    ]
