"""The contact list page: search, filters, sorting, keyset pages, chosen columns and each contact's why."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.accounts import create_account
from integration.contacts.lists import SORTS
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    Contact,
    EngagementStatus,
    InteractionType,
    Role,
    SubscriptionStatus,
    User,
)
from tests.web.admin.pages import Hooks, sign_in

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


def _csrf(client: FlaskClient) -> dict[str, str]:
    page = client.get("/admin/contacts/list").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    return {"X-CSRFToken": token[1]}


def _headers(html: str) -> list[str]:
    """The table's column headers, in order, as text."""
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)
    assert head is not None
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", head[1], re.S)]


def test_the_chosen_columns_are_kept_for_the_user_who_chose_them(
    client: FlaskClient, listed: int, settings: Settings, app: Flask
) -> None:
    assert _headers(client.get("/admin/contacts/list").get_data(as_text=True)) == [
        "Email",
        "First and last name",
        "Subscription",
        "Group",
        "Why",
    ]
    refused = client.post("/admin/contacts/list/columns", json={"tags": True})
    assert refused.status_code == 403  # a cookie session needs the page's token
    chosen = client.post(
        "/admin/contacts/list/columns",
        json={"tags": True, "first_seen": True, "why": False, "bogus": True},
        headers=_csrf(client),
    )
    assert chosen.get_json() == {"columns": ["email", "first_seen", "tags"], "stored": "user"}
    html = client.get("/admin/contacts/list?sort=email").get_data(as_text=True)
    assert _headers(html) == ["Email", "First seen", "Tags"]
    assert "data-why" not in html
    other = app.test_client()
    with session_scope(settings.database_url) as session:
        colleague = User(
            account_id=listed, email="colleague@example.com", password_hash="x", role=Role.MEMBER
        )
        session.add(colleague)
        session.flush()
        colleague_id = colleague.id
    with other.session_transaction() as cookie:
        cookie["_user_id"] = f"{colleague_id}:1"
    assert "Why" in _headers(other.get("/admin/contacts/list").get_data(as_text=True))  # theirs unchanged


def test_sortable_headers_link_to_the_other_order_and_say_the_current_one(
    client: FlaskClient, listed: int
) -> None:
    html = client.get(
        "/admin/contacts/list?sort=email&group=engaged&columns=last_interaction,first_seen,tags"
    ).get_data(as_text=True)
    links = {h.attrs["data-sort-link"]: unescape(h.attrs["href"]) for h in Hooks(html).all("data-sort-link")}
    # The email header flips its order; the others start with the latest first; tags do not sort.
    assert set(links) == {"-email", "-last_interaction_at", "-first_seen_at"}
    assert "group=engaged" in links["-email"]
    assert re.search(r'<th scope="col" aria-sort="ascending"><a [^>]*data-sort-link="-email"', html)
    assert html.count("aria-sort=") == 1
    flipped = client.get(links["-email"]).get_data(as_text=True)
    assert 'aria-sort="descending"' in flipped
    assert _linked(flipped)[0] == "c117@example.com"  # the last engaged address, Z to A


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_pages_through_every_contact_once(client: FlaskClient, listed: int, sort: str) -> None:
    seen: list[str] = []
    url = f"/admin/contacts/list?sort={sort}"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += list(dict.fromkeys(_linked(html)))
        more = re.search(r'href="([^"]+)" rel="next"', html)
        url = unescape(more[1]) if more else ""
    assert sorted(seen) == [f"c{n:03d}@example.com" for n in range(120)]
    assert len(seen) == 120


def test_a_filter_in_the_address_narrows_the_list_with_the_other_choices(
    client: FlaskClient, listed: int
) -> None:
    wanted = json.dumps({"any": [{"engagement": ["blocked"]}, {"engagement": ["unengaged"]}]})
    html = client.get("/admin/contacts/list", query_string={"filter": wanted, "subscription": "subscribed"})
    shown = html.get_data(as_text=True)
    expected = {n for n in range(120) if n % 2 and n % 3}
    assert set(_linked(shown)) == {f"c{n:03d}@example.com" for n in expected}
    assert Hooks(shown).all("data-filtered")
    # The filter stays with the header links and the search form.
    assert all("filter=" in h.attrs["href"] for h in Hooks(shown).all("data-sort-link"))
    assert 'name="filter"' in shown


@pytest.mark.parametrize("bad", ["not json", '{"tag": ""}', '{"unknown": 1}', "[]", '{"all": {"tag": "x"}}'])
def test_an_invalid_filter_is_left_out_with_a_banner(client: FlaskClient, listed: int, bad: str) -> None:
    answer = client.get("/admin/contacts/list", query_string={"filter": bad})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert Hooks(html).all("data-filter-refused")
    assert "The filter in this address is not valid" in html
    assert len(set(_linked(html))) == 50  # the whole list's first page
