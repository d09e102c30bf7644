"""The contact list's orders: every page size walks every contact once, in exactly the sort's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integration.accounts import create_account
from integration.contacts.lists import NEVER, SORTS, list_contacts
from integration.store import session_scope
from integration.store.models import Contact, SubscriptionStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _expected(contacts: list[dict[str, object]], sort: str) -> list[int]:
    """The order the sort promises, computed here: the key (no interaction counts as NEVER), then the id."""
    name = sort.lstrip("-")

    def key(c: dict[str, object]) -> tuple[object, int]:
        value = c[name]
        return (NEVER if value is None else value, int(c["id"]))  # type: ignore[call-overload]

    return [int(c["id"]) for c in sorted(contacts, key=key, reverse=sort.startswith("-"))]  # type: ignore[call-overload]


@pytest.fixture
def account(db_url: str) -> tuple[int, list[dict[str, object]]]:
    """Contacts with equal interaction times, none at all, and equal first-seen times."""
    rows = []
    with session_scope(db_url) as session:
        account_id = create_account(session, "Order shop", "UTC").id
        other = create_account(session, "Other", "UTC").id
        session.add(Contact(account_id=other, email="other@example.com", last_interaction_at=NOW))
        for n in range(23):
            interaction = None if n % 4 == 0 else NOW - timedelta(days=n % 5)  # ties and gaps
            contact = Contact(
                account_id=account_id,
                email=f"{'zyx'[n % 3]}{n:02d}@example.com",
                subscription_status=SubscriptionStatus.SUBSCRIBED,
                last_interaction_at=interaction,
                first_seen_at=NOW - timedelta(days=n % 3),
                deleted_at=NOW if n == 11 else None,
            )
            session.add(contact)
            session.flush()
            if n != 11:
                rows.append(
                    {
                        "id": contact.id,
                        "email": contact.email,
                        "last_interaction_at": interaction,
                        "first_seen_at": contact.first_seen_at,
                    }
                )
    return account_id, rows


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_pages_follow_the_sort_exactly(
    db_url: str, account: tuple[int, list[dict[str, object]]], sort: str, limit: int
) -> None:
    account_id, contacts = account
    seen: list[int] = []
    cursor = None
    with session_scope(db_url) as session:
        for _ in range(100):
            page = list_contacts(session, account_id, None, sort=sort, limit=limit, cursor=cursor, now=NOW)
            assert len(page["contacts"]) <= limit
            seen += [c["id"] for c in page["contacts"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == _expected(contacts, sort)


@pytest.mark.parametrize("sort", ["-last_interaction_at", "last_interaction_at"])
def test_a_filter_keeps_the_order_across_the_contacts_without_an_interaction(
    db_url: str, account: tuple[int, list[dict[str, object]]], sort: str
) -> None:
    account_id, contacts = account
    wanted = [c for c in contacts if str(c["email"]).startswith(("z", "x"))]
    seen: list[int] = []
    cursor = None
    with session_scope(db_url) as session:
        while True:
            page = list_contacts(
                session, account_id, None, search="example", sort=sort, limit=3, cursor=cursor, now=NOW
            )
            seen += [c["id"] for c in page["contacts"] if c["email"].startswith(("z", "x"))]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == _expected(wanted, sort)
