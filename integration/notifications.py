"""Notifications: what happened that the account's people should know, read and marked per reader.

A notification is for one user of the account, or (no user) for everyone who looks at the admin or
the API. Who has read what is kept per reader key: `user:<id>` for a signed-in user, `shopify:<staff
id>` for a Shopify staff member inside the admin (they have no user row), `key:<id>` for an API key.
A repeated event (the same kind about the same subject) while its notification is still unread by
everyone counts on that one instead of adding another, so a failure that recurs does not flood the
list. The unread count runs on every admin page: it reads the newest UNREAD_CAP rows at most.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select
from sqlalchemy.orm import Session

from integration.errors import NotFound
from integration.keyset import BadCursor, pack, unpack
from integration.store.models import Notification, NotificationKind, NotificationRead, table_of
from integration.store.types import MAX_ID, utcnow

# Beyond this many unread, the count says "at least" (the header shows 99+).
UNREAD_CAP = 100


@dataclass(frozen=True)
class Reader:
    """Who reads: the account, the reader key their read state is kept under, and their user if any."""

    account_id: int
    key: str
    user_id: int | None = None


def user_reader(account_id: int, user_id: int) -> Reader:
    """The reader of a signed-in user of the standalone admin."""
    return Reader(account_id, f"user:{user_id}", user_id)


def shopify_reader(account_id: int, staff_id: str) -> Reader:
    """The reader of a Shopify staff member (a session token's `sub`) inside the admin."""
    return Reader(account_id, f"shopify:{staff_id}"[:80])


def key_reader(account_id: int, key_id: int) -> Reader:
    """The reader of an API key."""
    return Reader(account_id, f"key:{key_id}")


def notify(
    session: Session,
    account_id: int,
    kind: NotificationKind,
    subject: str,
    data: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
) -> Notification:
    """Tell the account (or one user of it) about an event; a repeat of an unread one counts on it."""
    subject = subject[:64]  # as stored: a repeat must find it
    waiting = session.scalar(
        select(Notification)
        .where(
            Notification.account_id == account_id,
            Notification.kind == kind,
            Notification.subject == subject,
            Notification.user_id.is_(None) if user_id is None else Notification.user_id == user_id,
            ~exists().where(NotificationRead.notification_id == Notification.id),
        )
        .order_by(Notification.id.desc())
        .limit(1)
        .with_for_update()
    )
    if waiting is not None:
        waiting.data = dict(data or {})
        waiting.occurrences += 1
        waiting.created_at = utcnow()
        return waiting
    notification = Notification(
        account_id=account_id, user_id=user_id, kind=kind, subject=subject, data=dict(data or {})
    )
    session.add(notification)
    session.flush()
    return notification


def _visible(reader: Reader) -> ColumnElement[bool]:
    mine: ColumnElement[bool] = Notification.user_id.is_(None)
    if reader.user_id is not None:
        mine = or_(mine, Notification.user_id == reader.user_id)
    return and_(Notification.account_id == reader.account_id, mine)


def _read_by(reader: Reader) -> ColumnElement[bool]:
    return exists().where(
        NotificationRead.notification_id == Notification.id, NotificationRead.reader == reader.key
    )


def listing(
    session: Session, reader: Reader, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """The reader's notifications, newest first, a page at a time; `next_cursor` names the next page."""
    query = select(Notification, _read_by(reader).label("read")).where(_visible(reader))
    if cursor:
        query = query.where(Notification.id < _decode(cursor))
    rows = session.execute(query.order_by(Notification.id.desc()).limit(limit + 1)).all()
    items = [_describe(n, bool(read)) for n, read in rows[:limit]]
    return {
        "notifications": items,
        "next_cursor": pack([items[-1]["id"]]) if len(rows) > limit else None,
    }


def _decode(cursor: str) -> int:
    try:
        [last] = unpack(cursor)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("not a cursor of this list") from exc
    if type(last) is not int or not 0 < last <= MAX_ID:
        raise BadCursor("not a cursor of this list")
    return last


def _describe(notification: Notification, read: bool) -> dict[str, Any]:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "subject": notification.subject,
        "data": notification.data,
        "occurrences": notification.occurrences,
        "created_at": notification.created_at,
        "for_everyone": notification.user_id is None,
        "read": read,
    }


def unread_count(session: Session, reader: Reader) -> int:
    """How many notifications the reader has not read, up to UNREAD_CAP."""
    newest = (
        select(Notification.id)
        .where(_visible(reader), ~_read_by(reader))
        .order_by(Notification.id.desc())
        .limit(UNREAD_CAP)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(newest)) or 0


def mark_read(session: Session, reader: Reader, notification_id: int) -> None:
    """Mark one notification read for the reader; NotFound if the reader cannot see it."""
    found = session.scalar(
        select(Notification.id).where(Notification.id == notification_id, _visible(reader))
    )
    if found is None:
        raise NotFound("no such notification")
    if session.get(NotificationRead, (notification_id, reader.key)) is None:
        session.add(NotificationRead(notification_id=notification_id, reader=reader.key))
        session.flush()


def mark_all_read(session: Session, reader: Reader) -> int:
    """Mark every notification the reader has not read as read; return how many."""
    unread = session.scalars(select(Notification.id).where(_visible(reader), ~_read_by(reader))).all()
    if unread:
        now = utcnow()
        session.execute(
            insert(table_of(NotificationRead)),
            [{"notification_id": n, "reader": reader.key, "read_at": now} for n in unread],
        )
    return len(unread)
