"""The Leaderboard page: its rows are the API's for every metric, time frame and store; periods
stated in the store's time zone; ties, currencies, the empty board, more rows and the message dialog."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_skeleton
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest
from integration.accounts import create_account
from integration.analytics.leaderboard import RankBy
from integration.analytics.periods import TimeFrame, period_of
from integration.campaigns.sends import save_campaign
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import (
    BlockedReason,
    CampaignChannel,
    CampaignSend,
    Contact,
    Sender,
    SendStatus,
    Store,
    SubscriptionStatus,
)
from integration.store.types import utcnow
from tests.support.builders import bearer, customer, make_store, order
from tests.support.session_tokens import EMBEDDED, mint
from tests.support.shopify import connect_shop
from tests.web.admin.pages import Hooks, sign_in
from tests.web.admin.test_viewer import page_load

NEW_YORK = ZoneInfo("America/New_York")


def _local(day: Any, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


@pytest.fixture
def board_shop(settings: Settings, client: FlaskClient) -> dict[str, Any]:
    """An account in Warsaw's time zone with a New York store and a Warsaw outlet, both in euros,
    and customers buying across the last year and a half; plus another account with its own store."""
    now = utcnow()
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Leaderboard shop", "Europe/Warsaw")
        account.frequency_cap_days = 7
        ny = make_store(session, "EUR", account_id=account.id, time_zone="America/New_York")
        outlet = make_store(session, "EUR", account_id=account.id, time_zone="Europe/Warsaw")
        ny.name, outlet.name = "New York", "Outlet"
        other = make_store(session, "EUR")
        people = ("ann", "bob", "cy", "dee", "eve", "fay")
        ingest.ingest_customers(
            session,
            ny,
            [
                customer(f"c-{p}", f"{p}@example.com", first_name=p.capitalize(), last_name="Lee")
                for p in people
            ],
        )
        ages = (0, 2, 9, 20, 45, 100, 200, 380)  # days before now: each time frame holds some
        orders = []
        for n, person in enumerate(people):
            for m, days in enumerate(ages[n % 3 :: 1 + n % 2]):
                total = (40, 60, 100, 25)[(n + m) % 4]
                orders.append(
                    order(
                        f"{person}-{m}",
                        now - timedelta(days=days, hours=1),
                        email=f"{person}@example.com",
                        total_price=str(total),
                    )
                )
        ingest.ingest_orders(session, ny, orders)
        ingest.ingest_orders(
            session,
            outlet,
            [
                order("o-1", now - timedelta(hours=2), email="gus@example.com", total_price="70"),
                order("o-2", now - timedelta(days=3), email="ann@example.com", total_price="15"),
            ],
        )
        ingest.ingest_orders(
            session, other, [order("x-1", now - timedelta(hours=3), email="zed@example.com")]
        )
        headers = bearer(session, account.id)
        data = {
            "account": account.id,
            "ny": ny.id,
            "outlet": outlet.id,
            "other": other.id,
            "headers": headers,
        }
    sign_in(client, settings.database_url, data["account"])
    return data


def page(client: FlaskClient, path: str, status: int = 200, locale: str = "en") -> tuple[str, Hooks]:
    answer = client.get(path, headers={"Accept-Language": locale})
    assert answer.status_code == status, answer.get_data(as_text=True)[:2000]
    html = answer.get_data(as_text=True)
    return html, Hooks(html)


def page_rows(hooks: Hooks) -> list[tuple[Any, ...]]:
    """The board's rows as the page shows them, in the API's terms."""
    ranks = hooks.all("data-rank", "leaderboard")
    customers = hooks.all("data-customer", "leaderboard")
    purchases = hooks.all("data-purchases", "leaderboard")
    averages = hooks.all("data-average-order", "leaderboard")
    totals = hooks.all("data-total-spent", "leaderboard")
    last = hooks.all("data-last-order", "leaderboard")
    return [
        (
            int(r.attrs["data-rank"]),
            int(c.attrs["data-customer"]),
            int(p.text.replace(",", "")),
            a.attrs["data-average-order"],
            t.attrs["data-total-spent"],
            t.attrs["data-row-currency"],
            day.attrs["data-last-order"],
        )
        for r, c, p, a, t, day in zip(ranks, customers, purchases, averages, totals, last, strict=True)
    ]


def api_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r["rank"],
            r["contact"]["id"],
            r["purchases"],
            r["average_order"],
            r["total_spent"],
            r["currency"],
            r["last_order_at_local"][:10],
        )
        for r in answer["rows"]
    ]


def api(client: FlaskClient, board_shop: dict[str, Any], **query: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/leaderboard", query_string=query, headers=board_shop["headers"])
    assert answer.status_code == 200, answer.get_json()
    result: dict[str, Any] = answer.get_json()
    return result


@pytest.mark.parametrize("store", [None, "ny", "outlet"])
def test_every_metric_and_time_frame_shows_the_apis_rows(
    client: FlaskClient, board_shop: dict[str, Any], store: str | None
) -> None:
    store_query = {"store": board_shop[store]} if store else {}
    shown = 0
    for rank_by in RankBy:
        for frame in TimeFrame:
            query = {"rank_by": rank_by.value, "time_frame": frame.value, **store_query}
            _html, hooks = page(
                client, "/admin/leaderboard?" + "&".join(f"{k}={v}" for k, v in query.items())
            )
            expected = api(client, board_shop, **query, limit=25)
            assert page_rows(hooks) == api_rows(expected), (rank_by, frame)
            period = hooks.one("data-period")
            assert period.attrs["data-period-from"] == expected["period"]["from"]
            assert period.attrs["data-period-to"] == expected["period"]["to"]
            assert period.attrs["data-time-zone"] == expected["period"]["time_zone"]
            shown += len(expected["rows"])
    assert shown >= 15  # the boards were not all empty


def test_the_period_is_stated_in_the_stores_time_zone_and_a_boundary_order_counts_there(
    settings: Settings, client: FlaskClient
) -> None:
    now = utcnow()
    last_month = period_of(TimeFrame.LAST_MONTH, now.astimezone(NEW_YORK).date())
    with session_scope(settings.database_url) as session:
        account = create_account(session, "Zone shop", "Europe/Warsaw")
        ny = make_store(session, "USD", account_id=account.id, time_zone="America/New_York")
        ingest.ingest_orders(
            session,
            ny,
            [
                # Just inside last month in New York: its first minutes and its last ones.
                order(
                    "in-1",
                    _local(last_month.start, 0, 5, NEW_YORK),
                    email="first@example.com",
                    currency="USD",
                ),
                order(
                    "in-2", _local(last_month.end, 23, 55, NEW_YORK), email="late@example.com", currency="USD"
                ),
                # Just outside: five minutes before it began, five minutes after it ended.
                order(
                    "out-1",
                    _local(last_month.start - timedelta(days=1), 23, 55, NEW_YORK),
                    email="early@example.com",
                    currency="USD",
                ),
                order(
                    "out-2",
                    _local(last_month.end + timedelta(days=1), 0, 5, NEW_YORK),
                    email="next@example.com",
                    currency="USD",
                ),
            ],
        )
        store_id, account_id = ny.id, account.id
    sign_in(client, settings.database_url, account_id)

    def emails(hooks: Hooks) -> set[str]:
        return {h.text.split("@")[0] for h in hooks.all("data-customer", "leaderboard")}

    _html, hooks = page(client, f"/admin/leaderboard?store={store_id}&time_frame=last_month")
    assert emails(hooks) == {"first", "late"}
    period = hooks.one("data-period")
    assert (period.attrs["data-period-from"], period.attrs["data-period-to"]) == (
        last_month.start.isoformat(),
        last_month.end.isoformat(),
    )
    assert period.attrs["data-time-zone"] == "America/New_York"
    words = hooks.text("data-period")
    for day in (last_month.start, last_month.end):
        assert format_skeleton("yMMMd", day, locale="en") in words
    assert "America/New_York" in words
    # The last order's day is New York's: the late order is on the period's last day there.
    late = [r for r in page_rows(hooks) if r[6] == last_month.end.isoformat()]
    assert len(late) == 1
    # Across the account (Warsaw) the late order fell in the next month already.
    warsaw = period_of(TimeFrame.LAST_MONTH, now.astimezone(ZoneInfo("Europe/Warsaw")).date())
    _html, hooks = page(client, "/admin/leaderboard?time_frame=last_month")
    assert hooks.one("data-period").attrs["data-period-from"] == warsaw.start.isoformat()
    assert "late" not in emails(hooks)
    # The Polish page says the same dates the Polish way.
    _html, hooks = page(client, f"/admin/leaderboard?store={store_id}&time_frame=last_month", locale="pl")
    assert format_skeleton("yMMMd", last_month.start, locale="pl") in hooks.text("data-period")


def test_ties_share_a_rank_and_say_so(settings: Settings, client: FlaskClient) -> None:
    day = utcnow() - timedelta(hours=1)
    with session_scope(settings.database_url) as session:
        store = make_store(session, "EUR")
        ingest.ingest_orders(
            session,
            store,
            [
                order("a", day, email="ann@example.com", total_price="100"),
                order("b1", day, email="bob@example.com", total_price="60"),
                order("b2", day, email="bob@example.com", total_price="40"),
                order("c", day, email="cy@example.com", total_price="100"),
                order("d", day, email="dee@example.com", total_price="50"),
            ],
        )
        account_id = store.account_id
    sign_in(client, settings.database_url, account_id)
    _html, hooks = page(client, "/admin/leaderboard?time_frame=month_to_date&rank_by=total_spent")
    ranks = [h.attrs["data-rank"] for h in hooks.all("data-rank", "leaderboard")]
    assert ranks == ["1", "1", "1", "4"]
    assert len(hooks.all("data-tie", "leaderboard")) == 3
    _html, hooks = page(client, "/admin/leaderboard?time_frame=month_to_date&rank_by=purchases")
    assert [h.attrs["data-rank"] for h in hooks.all("data-rank", "leaderboard")] == ["1", "2", "2", "2"]
    assert hooks.all("data-customer", "leaderboard")[0].text.startswith("bob@")


def test_the_store_choice_keeps_to_the_store_and_ignores_another_accounts(
    client: FlaskClient, board_shop: dict[str, Any]
) -> None:
    html, hooks = page(client, f"/admin/leaderboard?store={board_shop['outlet']}&time_frame=year_to_date")
    names = [h.text for h in hooks.all("data-customer", "leaderboard")]
    assert names == ["gus@example.com", "Ann Lee"]
    assert f'<option value="{board_shop["outlet"]}" selected>Outlet</option>' in html
    # Another account's store is no choice: the whole account is shown.
    html, hooks = page(client, f"/admin/leaderboard?store={board_shop['other']}&time_frame=year_to_date")
    assert '<option value="" selected>All stores</option>' in html
    assert "zed@example.com" not in html
    assert "gus@example.com" in html


def test_an_empty_period_says_so(settings: Settings, client: FlaskClient) -> None:
    with session_scope(settings.database_url) as session:
        account_id = make_store(session, "EUR").account_id
    sign_in(client, settings.database_url, account_id)
    html, hooks = page(client, "/admin/leaderboard?time_frame=last_week")
    assert "No orders in this period" in hooks.text("data-empty")
    assert 'id="leaderboard"' not in html
    assert "data-show-more" not in html


def test_amounts_stay_in_their_currency_with_a_board_each(settings: Settings, client: FlaskClient) -> None:
    day = utcnow() - timedelta(hours=1)
    with session_scope(settings.database_url) as session:
        shop_eur = make_store(session, "EUR")
        shop_usd = make_store(session, "USD", account_id=shop_eur.account_id)
        ingest.ingest_orders(
            session,
            shop_eur,
            [
                order("e1", day, email="ann@example.com", total_price="80"),
                order("e2", day, email="bob@example.com", total_price="30"),
            ],
        )
        ingest.ingest_orders(
            session, shop_usd, [order("u1", day, email="ann@example.com", total_price="500", currency="USD")]
        )
        account_id = shop_eur.account_id
    sign_in(client, settings.database_url, account_id)
    _html, hooks = page(client, "/admin/leaderboard?time_frame=month_to_date")
    assert hooks.one("data-currency").attrs["data-currency"] == "EUR"
    assert "USD" in hooks.text("data-currency")
    totals = [
        (h.attrs["data-total-spent"], h.attrs["data-row-currency"], h.text)
        for h in hooks.all("data-total-spent")
    ]
    assert totals == [("80.00", "EUR", "€80.00"), ("30.00", "EUR", "€30.00")]  # never 580
    _html, hooks = page(client, "/admin/leaderboard?time_frame=month_to_date&currency=USD")
    assert [h.text for h in hooks.all("data-total-spent")] == ["$500.00"]
    _html, hooks = page(client, "/admin/leaderboard?time_frame=month_to_date&currency=JPY")
    assert "No customer paid in JPY" in hooks.text("data-empty")


def test_show_more_lengthens_the_board_as_the_apis_limit_does(
    settings: Settings, client: FlaskClient
) -> None:
    day = utcnow() - timedelta(hours=1)
    with session_scope(settings.database_url) as session:
        store = make_store(session, "EUR")
        totals = [200 - n for n in range(30)]
        totals[25] = totals[24]  # the 26th ties with the 25th: both are shown on the first page
        ingest.ingest_orders(
            session,
            store,
            [
                order(f"o{n}", day, email=f"c{n}@example.com", total_price=str(t))
                for n, t in enumerate(totals)
            ],
        )
        account_id = store.account_id
        headers = bearer(session, account_id)
    sign_in(client, settings.database_url, account_id)
    path = "/admin/leaderboard?time_frame=month_to_date"
    _html, hooks = page(client, path)
    expected = client.get("/api/v1/leaderboard?time_frame=month_to_date&limit=25", headers=headers).get_json()
    assert page_rows(hooks) == api_rows(expected)
    assert len(expected["rows"]) == 26
    more = hooks.one("data-show-more").attrs["href"]
    assert "limit=50" in more
    assert "time_frame=month_to_date" in more
    _html, hooks = page(client, more)
    expected = client.get("/api/v1/leaderboard?time_frame=month_to_date&limit=50", headers=headers).get_json()
    assert page_rows(hooks) == api_rows(expected)
    assert len(page_rows(hooks)) == 30
    assert not hooks.all("data-show-more")
    # Exactly as many customers as shown: no "Show more" to an identical page.
    _html, hooks = page(client, path + "&limit=30")
    assert len(page_rows(hooks)) == 30
    assert not hooks.all("data-show-more")


def test_each_row_opens_the_profiles_message_dialog_with_its_warnings(
    client: FlaskClient, board_shop: dict[str, Any], settings: Settings
) -> None:
    _html, hooks = page(client, "/admin/leaderboard?time_frame=year_to_date")
    rows = [h.attrs["data-customer"] for h in hooks.all("data-customer", "leaderboard")]
    urls = [h.attrs["data-message-url"] for h in hooks.all("data-message-url", "leaderboard")]
    assert urls == [f"/admin/leaderboard/message/{i}" for i in rows]
    html, _hooks = page(client, urls[0])
    assert 'id="refused-no-sender"' in html  # no sender yet: said in the dialog, no form
    assert 'id="message-form"' not in html
    with session_scope(settings.database_url) as session:
        session.add(
            Sender(
                account_id=board_shop["account"],
                host="127.0.0.1",
                port=2525,
                security="none",
                from_email="s@example.com",
            )
        )
        ann = session.scalars(select(Contact).where(Contact.email == "ann@example.com")).one()
        bob = session.scalars(select(Contact).where(Contact.email == "bob@example.com")).one()
        cy = session.scalars(select(Contact).where(Contact.email == "cy@example.com")).one()
        campaign = save_campaign(session, board_shop["account"], channel=CampaignChannel.EMAIL, name="Hello")
        session.add(
            CampaignSend(
                campaign_id=campaign.id,
                contact_id=ann.id,
                status=SendStatus.SENT,
                sent_at=utcnow() - timedelta(days=2),
            )
        )
        bob.subscription_status = SubscriptionStatus.UNSUBSCRIBED
        cy.blocked_reason, cy.blocked_at = BlockedReason.HARD_BOUNCE, utcnow()
        ids = {"ann": ann.id, "bob": bob.id, "cy": cy.id}

    def dialog(name: str) -> str:
        html, _hooks = page(client, f"/admin/leaderboard/message/{ids[name]}")
        assert html.lstrip().startswith("<dialog"), html[:200]  # the dialog alone, no page around it
        return html

    assert f'data-action="/api/v1/contacts/{ids["ann"]}/messages"' in dialog("ann")
    assert 'id="warn-cap"' in dialog("ann")
    assert 'name="override"' in dialog("ann")
    assert 'id="warn-cap"' not in dialog("bob")
    assert 'id="warn-unsubscribed"' in dialog("bob")
    assert 'name="override_unsubscribed"' in dialog("bob")
    assert 'id="refused-blocked"' in dialog("cy")
    assert 'id="message-form"' not in dialog("cy")
    # The profile's dialog is the same markup.
    profile = client.get(f"/admin/contacts/{ids['ann']}").get_data(as_text=True)
    start = profile.index('<dialog id="message-dialog"')
    assert profile[start : profile.index("</dialog>", start)] in dialog("ann")
    # Another account's customer, or none: not found.
    page(client, "/admin/leaderboard/message/999999", status=404)


def test_the_navigation_leads_to_the_page(client: FlaskClient, board_shop: dict[str, Any]) -> None:
    html, _hooks = page(client, "/admin/segments")
    assert 'href="/admin/leaderboard"' in html
    assert html.index('href="/admin/segments"') < html.index('href="/admin/leaderboard"')


@EMBEDDED
def test_the_page_renders_embedded_as_polaris_markup(
    shopify_client: FlaskClient, shopify_settings: Settings
) -> None:
    shop_id = connect_shop(shopify_settings)
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop_id)
        assert store is not None
        ingest.ingest_orders(
            session,
            store,
            [order("e1", utcnow() - timedelta(hours=1), email="eve@example.com", currency="USD")],
        )
    answer = shopify_client.get(
        "/admin/leaderboard", query_string={**page_load(mint()), "time_frame": "year_to_date"}
    )
    assert answer.status_code == 200, answer.data
    html = answer.get_data(as_text=True)
    assert "<s-page" in html
    assert "<s-select" in html
    assert "<s-table" in html
    assert "<main" not in html
    assert "eve@example.com" in html
    assert "data-message-row" in html


def test_a_choice_the_page_does_not_offer_falls_back_to_the_default(
    client: FlaskClient, board_shop: dict[str, Any]
) -> None:
    html, hooks = page(client, "/admin/leaderboard?rank_by=nope&time_frame=decade&limit=many&currency=eur")
    expected = api(client, board_shop, limit=25)  # total spent, last month, the default currency
    assert page_rows(hooks) == api_rows(expected)
    assert hooks.one("data-period").attrs["data-period-from"] == expected["period"]["from"]
    assert '<option value="total_spent" selected>' in html
    assert '<option value="last_month" selected>' in html
    _html, hooks = page(client, "/admin/leaderboard?time_frame=last_year&limit=100000")
    assert page_rows(hooks) == api_rows(api(client, board_shop, time_frame="last_year", limit=500))
