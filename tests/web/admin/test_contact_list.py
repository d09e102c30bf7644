"""The contact list page: search, filters, sorting, keyset pages and each contact's why."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask.testing import FlaskClient

from integration.accounts import create_account
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    EngagementStatus,
    InteractionType,
    SubscriptionStatus,
)
from tests.web.admin.pages import sign_in

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def listed(settings: Settings, client: FlaskClient) -> int:
    """An account of 120 contacts: engaged (ordered), unengaged and blocked, signed in as its owner."""
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "List shop", "Europe/Warsaw").id
        other = create_account(session, "Other shop", "UTC").id
        for n in range(120):
            kind = ("engaged", "unengaged", "blocked")[n % 3]
            session.add(
                Contact(
                    account_id=account_id,
                    email=f"c{n:03d}@example.com",
                    first_name="Anna" if n == 7 else f"Name{n}",
                    last_name="Nowak" if n == 7 else None,
                    subscription_status=SubscriptionStatus.SUBSCRIBED
                    if n % 2
                    else SubscriptionStatus.UNKNOWN,
                    engagement_status=EngagementStatus(kind),
                    last_interaction_at=DAY - timedelta(days=n) if kind != "blocked" else None,
                    last_interaction_type=InteractionType.ORDER_PLACED if kind == "engaged" else None,
                    blocked_reason=BlockedReason.HARD_BOUNCE if kind == "blocked" else None,
                    blocked_at=DAY if kind == "blocked" else None,
                )
            )
        session.add(
            Contact(
                account_id=other,
                email="stranger@example.com",
                subscription_status=SubscriptionStatus.SUBSCRIBED,
                engagement_status=EngagementStatus.ENGAGED,
            )
        )
    sign_in(client, settings.database_url, account_id)
    return account_id


def _linked(html: str) -> list[str]:
    """The contacts' addresses a page lists, in its order."""
    return re.findall(r"(c\d{3}@example\.com|stranger@example\.com)", html)


def test_pages_cover_every_contact_once_in_order(client: FlaskClient, listed: int) -> None:
    seen: list[str] = []
    url = "/admin/contacts/list?sort=email"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += list(dict.fromkeys(_linked(html)))
        more = re.search(r'href="([^"]+)" rel="next"', html)
        url = unescape(more[1]) if more else ""
    assert seen == [f"c{n:03d}@example.com" for n in range(120)]  # another account's contact never shows


def test_filters_and_search_narrow_the_list(client: FlaskClient, listed: int) -> None:
    blocked = client.get("/admin/contacts/list?group=blocked&sort=email").get_data(as_text=True)
    assert set(_linked(blocked)) == {f"c{n:03d}@example.com" for n in range(120) if n % 3 == 2}
    both = client.get("/admin/contacts/list?group=engaged&subscription=subscribed").get_data(as_text=True)
    assert set(_linked(both)) == {f"c{n:03d}@example.com" for n in range(120) if n % 3 == 0 and n % 2}
    found = client.get("/admin/contacts/list?q=anna+nowak").get_data(as_text=True)
    assert set(_linked(found)) == {"c007@example.com"}
    assert "No contact matches." in client.get("/admin/contacts/list?q=nobody-at-all").get_data(as_text=True)


def test_each_row_says_why_in_the_page_language(client: FlaskClient, listed: int) -> None:
    html = client.get("/admin/contacts/list?sort=email&group=engaged").get_data(as_text=True)
    assert "Ordered on Nov 20, 2026" in html  # c000: ordered on the day, in Warsaw's calendar
    blocked = client.get("/admin/contacts/list?sort=email&group=blocked").get_data(as_text=True)
    assert "Hard bounce on Nov 20, 2026" in blocked
    polish = client.get(
        "/admin/contacts/list?sort=email&group=engaged", headers={"Accept-Language": "pl"}
    ).get_data(as_text=True)
    assert "Złożył zamówienie – 20 lis 2026" in polish


def test_a_stale_cursor_starts_again(client: FlaskClient, listed: int) -> None:
    html = client.get("/admin/contacts/list?cursor=not-a-cursor").get_data(as_text=True)
    assert "here is its first page" in html
    assert len(set(_linked(html))) == 50
