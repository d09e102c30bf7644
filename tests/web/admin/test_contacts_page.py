"""The Contacts page: its numbers equal the API's to the cent, in English and Polish, on every tab."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from integration.settings import Settings
from integration.store import session_scope
from integration.store.types import utcnow
from integration.web.admin.i18n import decimals, money, number, percent
from tests.support.builders import bearer, make_store
from tests.web.admin.pages import Hooks, set_locale, sign_in

GROUPS = ("engaged", "unengaged", "blocked")
TABS = ("subscribed", "unknown", "subscribed_unknown")


def _post(client: FlaskClient, path: str, body: list[dict[str, Any]], headers: dict[str, str]) -> None:
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code < 300, answer.get_data(as_text=True)


def _account(client: FlaskClient, settings: Settings) -> tuple[int, dict[str, str]]:
    """Contacts in every group and subscription status, with orders in EUR and PLN; jobs not yet run."""
    with session_scope(settings.database_url) as session:
        eur = make_store(session, "EUR")
        pln = make_store(session, "PLN", account_id=eur.account_id)
        account_id, eur_id, pln_id = eur.account_id, eur.id, pln.id
        headers = bearer(session, account_id)
    now = utcnow()
    statuses = ("subscribed", "unknown", "unsubscribed")
    people = [(f"c{i}@example.com", statuses[i % 3]) for i in range(18)]
    _post(
        client,
        f"/api/v1/stores/{eur_id}/customers",
        [
            {"id": str(i), "email": email, "subscription_status": status, "updated_at": now.isoformat()}
            for i, (email, status) in enumerate(people)
        ],
        headers,
    )
    # Amounts whose averages round: 3234.57 / 2 = 1617.285 → 1617.29; 100.00 / 3 = 33.33.
    eur_orders = [("c0", "1234.57", 2), ("c0", "2000.00", 5), ("c1", "19.99", 3), ("c3", "10.01", 400),
                  ("c4", "0.05", 500), ("c6", "99.95", 7), ("c9", "45.45", 450),
                  ("c12", "12.34", 20)]  # fmt: skip
    pln_orders = [("c0", "33.33", 1), ("c0", "33.33", 2), ("c0", "33.34", 3), ("c2", "1999.99", 10),
                  ("c5", "250.50", 420), ("c7", "12.10", 8), ("c10", "1000.01", 12)]  # fmt: skip
    for store_id, currency, rows in ((eur_id, "EUR", eur_orders), (pln_id, "PLN", pln_orders)):
        _post(
            client,
            f"/api/v1/stores/{store_id}/orders",
            [
                {
                    "id": f"{currency}{n}",
                    "email": f"{who}@example.com",
                    "created_at": (now - timedelta(days=days)).isoformat(),
                    "updated_at": (now - timedelta(days=days)).isoformat(),
                    "currency": currency,
                    "total_price": amount,
                    "line_items": [{"title": "Tea", "quantity": 1, "price": amount}],
                }
                for n, (who, amount, days) in enumerate(rows)
            ],
            headers,
        )
    events = [("c8", "email_click"), ("c11", "email_open"), ("c6", "hard_bounce"), ("c7", "spam_complaint"),
              ("c13", "hard_bounce"), ("c14", "email_click")]  # fmt: skip
    _post(
        client,
        f"/api/v1/stores/{eur_id}/events",
        [
            {
                "event_id": f"e{n}",
                "email": f"{who}@example.com",
                "type": kind,
                "occurred_at": (now - timedelta(days=1)).isoformat(),
            }  # fmt: skip
            for n, (who, kind) in enumerate(events)
        ],
        headers,
    )
    return account_id, headers


def _expected(app: Flask, locale: str, stats: dict[str, Any]) -> dict[str, Any]:
    """What the page should show for the API's statistics, formatted for `locale`."""
    with app.test_request_context(), force_locale(locale):
        shown: dict[str, Any] = {}
        for group in GROUPS:
            data = stats["groups"][group]
            shown[group] = {
                "count": number(data["count"]),
                "share": percent(data["percent"]) if "percent" in data else None,
                "value": {
                    v["currency"]: (
                        money(v["aov"], v["currency"]),
                        money(v["acv"], v["currency"]),
                        decimals(v["ano"]),
                    )  # fmt: skip
                    for v in data["value"]
                },
            }
        return shown


def _cells(page: Hooks, card: str) -> dict[str, dict[str, str]]:
    """The value table's cells of a card: {"aov": {currency: text}, "acv": …, "ano": …}."""
    return {
        kind: {h.attrs[f"data-{kind}"]: h.text.strip() for h in page.all(f"data-{kind}", card)}
        for kind in ("aov", "acv", "ano")
    }


def _shown(html: str) -> dict[str, Any]:
    page = Hooks(html)
    shown: dict[str, Any] = {}
    for group in GROUPS:
        card = f"group-{group}"
        shares = page.all("data-share", card)
        shown[group] = {
            "count": page.text("data-count", card),
            "share": page.text("data-share", card).split(" ")[0] if shares else None,
            "value": {
                currency: tuple(cells[kind][currency] for kind in ("aov", "acv", "ano"))
                for cells in [_cells(page, card)]
                for currency in cells["aov"]
            },
        }
    return shown


def test_the_page_shows_the_apis_numbers_to_the_cent_on_every_tab_in_english_and_polish(
    app: Flask, client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account_id, headers = _account(client, settings)
    run_worker()  # classification and the kept statistics, as in production
    user_id = sign_in(client, settings.database_url, account_id, locale="en")
    seen_currencies: set[str] = set()
    for locale in ("en", "pl"):
        set_locale(settings.database_url, user_id, locale)
        for tab in TABS:
            stats = client.get("/api/v1/contacts/stats", query_string={"subscription": tab}, headers=headers)
            assert stats.status_code == 200
            api = stats.get_json()
            page = client.get("/admin/", query_string={"subscription": tab})
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert f'lang="{locale}"' in html
            expected, shown = _expected(app, locale, api), _shown(html)
            for group in GROUPS:
                assert shown[group]["count"] == expected[group]["count"], (locale, tab, group)
                assert shown[group]["value"] == expected[group]["value"], (locale, tab, group)
                if expected[group]["share"] is not None:
                    assert shown[group]["share"].startswith(expected[group]["share"]), (locale, tab, group)
                seen_currencies |= set(expected[group]["value"])
            hooks = Hooks(html)
            total = sum(
                Decimal(hooks.one("data-share", f"group-{group}").attrs["data-share"]) for group in GROUPS[:2]
            )
            counted = api["groups"]["engaged"]["count"] + api["groups"]["unengaged"]["count"]
            assert total == (Decimal("100.00") if counted else Decimal("0.00"))
    assert seen_currencies == {"EUR", "PLN"}


def test_polish_pages_write_money_and_shares_the_polish_way(
    app: Flask, client: FlaskClient, settings: Settings, run_worker: Any
) -> None:
    account_id, headers = _account(client, settings)
    run_worker()
    sign_in(client, settings.database_url, account_id, locale="pl")
    html = client.get("/admin/?subscription=subscribed_unknown").get_data(as_text=True)
    page = Hooks(html)
    pln = [h.text for h in page.all("data-aov") if h.attrs["data-aov"] == "PLN"]
    assert pln
    assert all("zł" in text and "," in text for text in pln)
    share = page.text("data-share", "group-engaged")
    figure = share.split(" ")[0]
    assert "," in figure
    assert "." not in figure


@pytest.mark.parametrize("with_store", [False, True])
def test_an_account_without_contacts_says_what_to_do_next(
    client: FlaskClient, settings: Settings, with_store: bool
) -> None:
    from integration.accounts import create_account

    with session_scope(settings.database_url) as session:
        account = make_store(session).account if with_store else create_account(session, "Empty", "UTC")
        account_id = account.id
    sign_in(client, settings.database_url, account_id)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="contacts-empty"' in html
    assert "data-count" not in html  # no cards of zeros
    expected = "Your store is connected" if with_store else "Connect your store or import a CSV file"
    assert expected in html


def test_the_empty_state_links_to_setup(client: FlaskClient, settings: Settings) -> None:
    from integration.accounts import create_account

    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Empty", "UTC").id
    sign_in(client, settings.database_url, account_id)
    page = Hooks(client.get("/admin/").get_data(as_text=True))
    assert page.one("data-next-step").attrs["href"] == "/admin/setup"
