"""Notifications: each reader's read state, one unread notice per repeated event, newest first in pages."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from integration import notifications
from integration.keyset import BadCursor
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import NotificationKind, Role, User
from tests.support.builders import make_store

KIND = NotificationKind.JOB_FAILED


def _account_with_users(settings: Settings, count: int = 2) -> tuple[int, list[int]]:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
        people = [
            User(
                account_id=account_id,
                email=f"person{n}-{account_id}@example.com",
                password_hash=generate_password_hash("x"),
                role=Role.MEMBER,
            )
            for n in range(count)
        ]
        session.add_all(people)
        session.flush()
        return account_id, [p.id for p in people]


def test_an_account_wide_notice_is_read_by_each_reader_on_their_own(settings: Settings) -> None:
    account_id, (ann, bob) = _account_with_users(settings)
    readers = [
        notifications.user_reader(account_id, ann),
        notifications.user_reader(account_id, bob),
        notifications.shopify_reader(account_id, "90210"),
        notifications.key_reader(account_id, 7),
    ]
    with session_scope(settings.database_url) as session:
        notice = notifications.notify(session, account_id, KIND, "job:sync", {"job_id": "a"})
        notice_id = notice.id
    with session_scope(settings.database_url) as session:
        assert [notifications.unread_count(session, r) for r in readers] == [1, 1, 1, 1]
        notifications.mark_read(session, readers[0], notice_id)
        notifications.mark_read(session, readers[0], notice_id)  # twice is once
        notifications.mark_read(session, readers[2], notice_id)
    with session_scope(settings.database_url) as session:
        assert [notifications.unread_count(session, r) for r in readers] == [0, 1, 0, 1]
        assert [notifications.listing(session, r)["notifications"][0]["read"] for r in readers] == [
            True,
            False,
            True,
            False,
        ]


def test_a_users_notice_is_theirs_alone_and_another_account_sees_nothing(settings: Settings) -> None:
    account_id, (ann, bob) = _account_with_users(settings)
    other_account, (cy,) = _account_with_users(settings, 1)
    with session_scope(settings.database_url) as session:
        notice_id = notifications.notify(
            session, account_id, NotificationKind.EXPORT_READY, "export:1", {"export_id": 1}, user_id=ann
        ).id
    ann_reader = notifications.user_reader(account_id, ann)
    with session_scope(settings.database_url) as session:
        assert notifications.unread_count(session, ann_reader) == 1
        assert notifications.unread_count(session, notifications.user_reader(account_id, bob)) == 0
        assert notifications.unread_count(session, notifications.shopify_reader(account_id, "1")) == 0
        assert (
            notifications.listing(session, notifications.user_reader(other_account, cy))["notifications"]
            == []
        )
        with pytest.raises(LookupError):
            notifications.mark_read(session, notifications.user_reader(account_id, bob), notice_id)
        with pytest.raises(LookupError):
            notifications.mark_read(session, notifications.user_reader(other_account, cy), notice_id)


def test_a_repeated_event_counts_on_its_unread_notice_and_starts_a_new_one_once_read(
    settings: Settings,
) -> None:
    account_id, (ann, _) = _account_with_users(settings)
    reader = notifications.user_reader(account_id, ann)
    with session_scope(settings.database_url) as session:
        first = notifications.notify(
            session, account_id, NotificationKind.SYNC_STOPPED, "sync:4", {"n": 1}
        ).id
        again = notifications.notify(
            session, account_id, NotificationKind.SYNC_STOPPED, "sync:4", {"n": 2}
        ).id
        notifications.notify(session, account_id, NotificationKind.SYNC_STOPPED, "sync:5")
    assert again == first
    with session_scope(settings.database_url) as session:
        items = notifications.listing(session, reader)["notifications"]
        assert [(i["subject"], i["occurrences"]) for i in items] == [("sync:5", 1), ("sync:4", 2)]
        assert items[1]["data"] == {"n": 2}
        assert notifications.mark_all_read(session, reader) == 2
    with session_scope(settings.database_url) as session:
        later = notifications.notify(session, account_id, NotificationKind.SYNC_STOPPED, "sync:4").id
        assert later != first
        assert notifications.unread_count(session, reader) == 1
        assert notifications.mark_all_read(session, reader) == 1
        assert notifications.mark_all_read(session, reader) == 0


def test_notices_come_newest_first_in_keyset_pages_and_the_count_stops_at_its_cap(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, (ann, _) = _account_with_users(settings)
    reader = notifications.user_reader(account_id, ann)
    with session_scope(settings.database_url) as session:
        for n in range(7):
            notifications.notify(session, account_id, KIND, f"job:{n}")
    seen: list[str] = []
    cursor = None
    with session_scope(settings.database_url) as session:
        while True:
            page = notifications.listing(session, reader, limit=3, cursor=cursor)
            seen += [i["subject"] for i in page["notifications"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"job:{n}" for n in reversed(range(7))]
        monkeypatch.setattr(notifications, "UNREAD_CAP", 5)
        assert notifications.unread_count(session, reader) == 5
        with pytest.raises(BadCursor):
            notifications.listing(session, reader, cursor="not-a-cursor")
