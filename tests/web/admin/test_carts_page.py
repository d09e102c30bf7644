"""The Carts page: its statistics, days and carts equal the API's for the same period, per currency,
with days in the account's time zone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from integration import ingest
from integration.commerce.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.web.admin.i18n import money, percent
from tests.support.builders import NOW, bearer, checkout, item, make_store, order
from tests.web.admin.pages import Hooks, sign_in

JUNE_15 = "from=2026-06-15&to=2026-06-15"
FILLERS = 50  # more carts than a page holds


@pytest.fixture
def shop(client: FlaskClient, settings: Settings) -> dict[str, Any]:
    """An account in Prague (UTC+2 in June) with a EUR and a USD store: carts recovered by each rule
    in both currencies, an open one, two on either side of midnight, and enough to fill two pages."""
    with session_scope(settings.database_url) as session:
        eur = make_store(session)
        usd = make_store(session, currency="USD", account_id=eur.account_id)
        ingest.ingest_checkouts(
            session,
            eur,
            [
                checkout(
                    "by-token",
                    NOW,
                    email="ann@example.com",
                    line_items=[
                        item("Wool scarf", "40.00", product="scarf"),
                        item("Wool hat", "25.00", 2, "hat"),
                    ],
                    total_price="90.00",
                ),
                checkout("by-cart", NOW + timedelta(minutes=1), email="bob@example.com", cart_token="k1"),
                checkout(
                    "open",
                    NOW + timedelta(minutes=3),
                    email="dan@example.com",
                    recovery_url="https://shop.example/recover/1",
                ),
                # Abandoned 10 minutes after these: 23:30 on June 15 and 00:30 on June 16 in Prague.
                checkout("before-midnight", NOW + timedelta(hours=9, minutes=20), email="eve@example.com"),
                checkout("after-midnight", NOW + timedelta(hours=10, minutes=20), email="fay@example.com"),
                *(
                    checkout(f"filler-{i}", NOW - timedelta(hours=2, minutes=i), email=f"f{i}@example.com")
                    for i in range(FILLERS)
                ),
            ],
        )
        ingest.ingest_checkouts(
            session,
            usd,
            [
                checkout(
                    "dollars",
                    NOW + timedelta(minutes=2),
                    email="cy@example.com",
                    currency="USD",
                    line_items=[item("Wool hat", "25.00", product="hat")],
                )
            ],
        )
        mark_abandoned(session, now=NOW + timedelta(days=1))
        later = NOW + timedelta(days=1, hours=1)
        ingest.ingest_orders(
            session,
            eur,
            [
                order(
                    "o1",
                    later,
                    email="ann@example.com",
                    checkout_token="by-token",
                    name="#1001",
                    total_price="92.50",
                ),
                order(
                    "o2", later, email="bob@example.com", cart_token="k1", name="#1002", total_price="10.05"
                ),
            ],
        )
        ingest.ingest_orders(
            session,
            usd,
            [
                order(
                    "o3",
                    later,
                    email="cy@example.com",
                    currency="USD",
                    line_items=[item("Wool hat", "25.00", product="hat")],
                    name="#2001",
                )
            ],
        )
        account_id = eur.account_id
        headers = bearer(session, account_id)
    return {"account_id": account_id, "headers": headers}


def _page(client: FlaskClient, query: str) -> Hooks:
    answer = client.get(f"/admin/carts?{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return Hooks(answer.get_data(as_text=True))


def _api(client: FlaskClient, shop: dict[str, Any], path: str) -> Any:
    answer = client.get(path, headers=shop["headers"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def _api_carts(client: FlaskClient, shop: dict[str, Any], query: str) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        body = _api(client, shop, f"/api/v1/carts?{query}" + (f"&cursor={cursor}" if cursor else ""))
        found += body["carts"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def _page_carts(client: FlaskClient, query: str) -> tuple[list[Hooks], list[dict[str, str]]]:
    """Every page of the list from its first, following the Next page links, and the rows of all."""
    pages, rows = [], []
    url = f"/admin/carts?{query}"
    while url:
        answer = client.get(url)
        assert answer.status_code == 200
        hooks = Hooks(answer.get_data(as_text=True))
        pages.append(hooks)
        for cart in hooks.all("data-cart", within="carts-table"):
            rows.append(cart.attrs)
        following = hooks.all("data-next-page")
        url = following[0].attrs["href"] if following else ""
    return pages, rows


def test_the_period_statistics_equal_the_api_in_each_currency(
    app: Flask, client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    sign_in(client, settings.database_url, shop["account_id"])
    for query in (JUNE_15, "from=2026-06-16&to=2026-06-16", "from=2026-06-01&to=2026-06-30"):
        page, api = _page(client, query), _api(client, shop, f"/api/v1/carts/stats?{query}")
        assert int(page.one("data-abandoned").attrs["data-abandoned"]) == api["abandoned"]
        assert int(page.one("data-recovered").attrs["data-recovered"]) == api["recovered"]
        assert page.one("data-rate").attrs["data-rate"] == str(Decimal(str(api["recovery_rate"])))
        shown = {h.attrs["data-revenue"]: h.attrs["data-amount"] for h in page.all("data-revenue")}
        assert shown == {r["currency"]: r["amount"] for r in api["recovered_revenue"]}
    page = _page(client, JUNE_15)
    # 50 fillers, three recovered, the open cart and the one at 23:30; the one at 00:30 is June 16's.
    assert (
        page.one("data-abandoned").attrs["data-abandoned"],
        page.one("data-recovered").attrs["data-recovered"],
    ) == ("55", "3")
    # Revenue per currency, never summed: 92.50 + 10.05 EUR, 25.00 USD.
    with app.test_request_context(), force_locale("en"):
        eur, usd = page.all("data-revenue")
        assert (eur.attrs["data-amount"], usd.attrs["data-amount"]) == ("102.55", "25.00")
        assert money("102.55", "EUR") in eur.text
        assert money("25.00", "USD") in usd.text
        assert percent(Decimal("5.45")) in page.text("data-rate")
    assert _page(client, "from=2026-06-16&to=2026-06-16").one("data-abandoned").attrs["data-abandoned"] == "1"


def test_the_daily_table_holds_each_local_day_as_the_api_counts_it(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    sign_in(client, settings.database_url, shop["account_id"])
    page = _page(client, "from=2026-06-14&to=2026-06-17")
    days = [h.attrs["data-day"] for h in page.all("data-day", within="days-table")]
    assert days == ["2026-06-14", "2026-06-15", "2026-06-16", "2026-06-17"]
    for day in days:
        api = _api(client, shop, f"/api/v1/carts/stats?from={day}&to={day}")
        [shown_abandoned] = [
            h for h in page.all("data-day-abandoned") if h.attrs["data-day-abandoned"] == day
        ]
        [shown_recovered] = [
            h for h in page.all("data-day-recovered") if h.attrs["data-day-recovered"] == day
        ]
        assert (shown_abandoned.text, shown_recovered.text) == (str(api["abandoned"]), str(api["recovered"]))
    # The chart draws the two series beside the table.
    assert {h.attrs["data-series"] for h in page.all("data-series")} == {"abandoned", "recovered"}


def test_the_list_shows_the_apis_carts_and_rules_a_page_at_a_time(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    sign_in(client, settings.database_url, shop["account_id"])
    for state, api_state in (("all", ""), ("open", "&state=abandoned"), ("recovered", "&state=recovered")):
        pages, rows = _page_carts(client, f"{JUNE_15}&state={state}")
        api = _api_carts(client, shop, JUNE_15 + api_state)
        assert [int(r["data-cart"]) for r in rows] == [c["id"] for c in api]
        assert [r["data-state"] for r in rows] == [c["state"] for c in api]
        assert len(pages) == (2 if state != "recovered" else 1)
    pages, _ = _page_carts(client, JUNE_15)
    first = pages[0]
    assert len(first.all("data-cart")) == 50
    rules = {h.attrs["data-rule"] for h in first.all("data-rule")}
    assert rules == {"checkout_token", "cart_token", "product"}
    api = {c["id"]: c for c in _api_carts(client, shop, JUNE_15)}
    contact_links = first.all("data-contact-link")
    assert {int(h.attrs["data-contact-link"]) for h in contact_links} <= {
        c["contact"]["id"] for c in api.values()
    }
    for cart in first.all("data-cart"):
        expected = api[int(cart.attrs["data-cart"])]
        assert expected["contact"]["email"] in cart.text
    for total in first.all("data-total"):
        assert (total.attrs["data-total"], total.attrs["data-currency"]) in {
            (c["total_price"], c["currency"]) for c in api.values()
        }
    # The recovered carts name their orders, the rule in the profile's words, and the open one its link.
    shown_orders = {int(h.attrs["data-order"]) for h in first.all("data-order")}
    assert shown_orders == {c["recovered_by"]["order_id"] for c in api.values() if c["recovered_by"]}
    words = {h.attrs["data-rule"]: h.text.strip() for h in first.all("data-rule")}
    assert words["checkout_token"] == "the order carried this checkout's token"
    assert words["cart_token"] == "the order carried this cart's token"
    assert words["product"].startswith("same customer and store, within the recovery window")
    assert [h.attrs["data-recovery-url"] for h in first.all("data-recovery-url")] == [
        "https://shop.example/recover/1"
    ]
    assert [h.attrs["data-copy"] for h in first.all("data-copy")] == ["https://shop.example/recover/1"]
    # The items: the first titles and their count.
    by_token = next(c for c in api.values() if c["token"] == "by-token")
    [items] = [h for h in first.all("data-items") if h.attrs["data-items"] == "2" and "Wool scarf" in h.text]
    assert "Wool scarf, Wool hat" in items.text
    assert by_token["quantity"] == 3
    # A cursor from another list starts again from the first page, and says so.
    stale = _page(client, f"{JUNE_15}&cursor=nonsense")
    assert [h.attrs["data-cart"] for h in stale.all("data-cart")] == [str(c) for c in list(api)[:50]]


def test_a_contact_link_leads_to_the_profile(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    sign_in(client, settings.database_url, shop["account_id"])
    link = _page(client, f"{JUNE_15}&state=recovered").all("data-contact-link")[0]
    profile = client.get(link.attrs["href"])
    assert profile.status_code == 200
    assert link.text.strip() in profile.get_data(as_text=True)


def test_the_page_states_the_delay_and_refuses_a_bad_period(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    sign_in(client, settings.database_url, shop["account_id"])
    page = _page(client, JUNE_15)
    assert page.one("data-delay-minutes").attrs["data-time-zone"] == "Europe/Prague"
    assert "Abandonment delay: 10 minutes" in page.one("data-delay-minutes").text
    for query, words in (
        ("from=2026-06-16&to=2026-06-15", "The period must start on or before its last day."),
        ("from=yesterday", "From is not a day: write it as YYYY-MM-DD."),
        ("from=2024-01-01&to=2026-06-15", "Choose a period of at most 366 days."),
    ):
        answer = client.get(f"/admin/carts?{query}")
        assert answer.status_code == 400
        hooks = Hooks(answer.get_data(as_text=True))
        assert [h.text.strip() for h in hooks.all("data-period-error")] == [words]
        assert not hooks.all("data-abandoned")


def test_an_empty_account_says_so(client: FlaskClient, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
    sign_in(client, settings.database_url, account_id)
    page = _page(client, "")
    assert "No checkout of your store has been abandoned yet" in page.text("data-empty")
    assert not page.all("data-abandoned")
