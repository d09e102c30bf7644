"""The RFM page: the grid's numbers equal the API's, boundaries in words in the account's time zone,
the scheme edited through the API with each faulty cell named, the default restored, the spender
tiers as the domain counts them, and the empty states."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration import ingest
from integration.accounts import create_account
from integration.analytics import rfm
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Account, Contact, RfmScore, RfmSummary
from tests.support.builders import bearer, customer, item, make_store, order
from tests.web.admin.pages import Hooks, sign_in

# A buyer's orders: (days before the last evening, currency, amount); the prospects have none.
# Cells by the default scheme: ann R5 F5, bob R4 F3, cy R3 F1, dee R3 F4, eve R2 F1, fay R1 F3, gus R1 F1.
BUYERS: dict[str, list[tuple[int, str, str]]] = {
    "ann": [(1, "EUR", "120.00"), (20, "EUR", "80.00"), (40, "EUR", "50.00"), (60, "EUR", "30.00")],
    "bob": [(3, "EUR", "40.00"), (90, "EUR", "40.00")],
    "cy": [(10, "PLN", "300.00")],
    "dee": [(45, "PLN", "99.90"), (50, "PLN", "10.00"), (300, "PLN", "10.00")],
    "eve": [(120, "EUR", "15.00")],
    "fay": [(200, "EUR", "500.00"), (210, "EUR", "20.00")],
    "gus": [(400, "PLN", "45.00")],
}
PROSPECTS = ("pia", "quin")
WARSAW = ZoneInfo("Europe/Warsaw")


def _evening() -> datetime:
    """Yesterday at 23:30 UTC: already the next day in Warsaw, so a day shown in UTC would be wrong."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(hour=23, minute=30, second=0, microsecond=0)


@pytest.fixture
def shop(settings: Settings, client: FlaskClient) -> dict[str, Any]:
    """An account in Warsaw's time zone with seven buyers in EUR and PLN and two prospects, RFM computed."""
    evening = _evening()
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Sklep Lniany", "Europe/Warsaw").id
        store = make_store(session, account_id=account_id)
        people = [*BUYERS, *PROSPECTS]
        ingest.ingest_customers(
            session, store, [customer(str(n), f"{p}@example.com", evening) for n, p in enumerate(people)]
        )
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    f"{person}-{n}",
                    evening - timedelta(days=days),
                    email=f"{person}@example.com",
                    currency=currency,
                    line_items=[item(price=price)],
                )
                for person, rows in BUYERS.items()
                for n, (days, currency, price) in enumerate(rows)
            ],
        )
        rfm.compute(session, account_id)
        headers = bearer(session, account_id)
    sign_in(client, settings.database_url, account_id)
    return {"account": account_id, "headers": headers, "evening": evening}


def page_headers(client: FlaskClient) -> dict[str, str]:
    """The headers the page's own fetches send: its CSRF token and its language."""
    page = client.get("/admin/rfm").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    return {"X-CSRFToken": token[1], "X-Storepulse-Locale": "en"}


def test_the_grid_shows_the_apis_sizes_and_revenue_shares(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    overview = client.get("/api/v1/rfm", headers=shop["headers"]).get_json()
    answer = client.get("/admin/rfm")
    assert answer.status_code == 200
    hooks = Hooks(answer.get_data(as_text=True))

    cells = {h.attrs["data-cell"]: h for h in hooks.all("data-cell")}
    assert len(cells) == 25
    api_cells = {rfm.cell_key(c["r"], c["f"]): c for c in overview["grid"]}
    assert set(api_cells) == {"r5f5", "r4f3", "r3f1", "r3f4", "r2f1", "r1f3", "r1f1"}
    for key, cell in cells.items():
        expected = api_cells.get(key, {"contacts": 0, "revenue": []})
        assert int(cell.attrs["data-contacts"]) == expected["contacts"], key
        shown = {
            h.attrs["data-share"]: h.attrs["data-percent"] for h in hooks.all("data-share", f"cell-{key}")
        }
        assert shown == {r["currency"]: r["share_percent"] for r in expected["revenue"]}, key
    assert cells["r1f1"].attrs["data-segment"] == "Hibernating"
    assert cells["r5f5"].attrs["data-segment"] == "Champions"

    # The segments' table: the API's sizes in its order, prospects last.
    names = [h.attrs["data-segment-name"] for h in hooks.all("data-segment-name")]
    sizes = [int(h.attrs["data-segment-size"]) for h in hooks.all("data-segment-size")]
    assert list(zip(names, sizes, strict=True)) == [(s["name"], s["contacts"]) for s in overview["segments"]]
    assert sizes[-1] == len(PROSPECTS)

    # Each cell lists its own buyers (its R and F scores), not the rest of its segment.
    with session_scope(settings.database_url) as session:
        scored = session.execute(
            select(Contact.email, RfmScore.r, RfmScore.f).join(RfmScore, RfmScore.contact_id == Contact.id)
        ).all()
    everyone = {email for email, _, _ in scored}
    for key in ("r1f3", "r1f1", "r5f5", "r2f2"):
        link = hooks.all("data-cell-link", f"cell-{key}")[0]
        condition = json.loads(parse_qs(urlparse(link.attrs["href"]).query)["filter"][0])
        r, f = int(key[1]), int(key[3])
        assert condition == {"all": [{"rfm_recency": [r]}, {"rfm_frequency": [f]}]}
        listed = client.get(link.attrs["href"])
        assert listed.status_code == 200
        shown = set(re.findall(r"[a-z]+@example\.com", listed.get_data(as_text=True))) & everyone
        assert shown == {email for email, cr, cf in scored if (cr, cf) == (r, f)}, key
        assert len(shown) == int(cells[key].attrs["data-contacts"]), key
    assert "fay@example.com" in {email for email, cr, cf in scored if (cr, cf) == (1, 3)}


def test_boundaries_are_said_in_words_in_the_accounts_time_zone(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    hooks = Hooks(client.get("/admin/rfm").get_data(as_text=True))
    recency = [h.text.strip() for h in hooks.all("data-words-r")]
    frequency = [h.text.strip() for h in hooks.all("data-words-f")]
    evening = shop["evening"]

    def day(moment: datetime) -> str:
        return format_date(moment.astimezone(WARSAW), "medium", locale="en")

    ann_last = evening - timedelta(days=1)  # 23:30 UTC: the next day in Warsaw
    assert day(ann_last) != format_date(ann_last, "medium", locale="en")
    assert recency[0] == f"R5: last order on or after {day(ann_last)}"
    assert recency[-1] == f"R1: last order on or before {day(evening - timedelta(days=200))}"
    assert frequency == ["F5: 4 orders or more", "F4: 3 orders", "F3: 2 orders", "F1: 1 order"]
    money = [h.text.strip() for h in hooks.all("data-words-m")]
    assert money[:4] == [
        "M1 in EUR: spent €15.00",
        "M2 in EUR: spent €80.00",
        "M3 in EUR: spent €280.00",
        "M4 in EUR: spent €520.00",  # four buyers: scores 1, 2, 3 and 4
    ], money


def _segment_of(client: FlaskClient, key: str) -> str:
    hooks = Hooks(client.get("/admin/rfm").get_data(as_text=True))
    (cell,) = [h for h in hooks.all("data-cell") if h.attrs["data-cell"] == key]
    return cell.attrs["data-segment"]


def test_a_scheme_with_a_missing_or_doubled_pair_is_refused_naming_the_pair(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    html = client.get("/admin/rfm").get_data(as_text=True)
    form = Hooks(html).one("data-rfm-scheme")
    # One select per cell, named as the API names a cell at fault, each with its error slot.
    for r in range(1, 6):
        for f in range(1, 6):
            assert f'name="r{r}f{f}"' in html
            assert f'data-error-for="r{r}f{f}"' in html
    assert "%(pair)s" in form.attrs["data-missing"]
    assert "%(pair)s" in form.attrs["data-doubled"]

    headers = page_headers(client)
    every_cell_but_one = [
        {"name": "Fresh", "r": [5, 5], "f": [1, 5]},
        {"name": "Rest", "r": [1, 4], "f": [2, 5]},
        {"name": "Rest", "r": [2, 4], "f": [1, 1]},
    ]
    missing = client.put("/api/v1/rfm/scheme", json={"segments": every_cell_but_one}, headers=headers)
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "invalid_scheme"
    assert missing.get_json()["details"] == {"r1f1": "missing"}
    assert "R1 F1" in missing.get_json()["message"]

    doubled = [*every_cell_but_one, {"name": "Old", "r": [1, 1], "f": [1, 2]}]
    answer = client.put("/api/v1/rfm/scheme", json={"segments": doubled}, headers=headers)
    assert answer.status_code == 422
    assert answer.get_json()["details"] == {"r1f2": "doubled"}
    assert "R1 F2 is in both 'Rest' and 'Old'" in answer.get_json()["message"]
    with session_scope(settings.database_url) as session:
        account = session.get(Account, shop["account"])
        assert account is not None
        assert account.rfm_scheme is None
    assert _segment_of(client, "r1f1") == "Hibernating"


def test_a_scheme_saved_then_the_default_restored(
    client: FlaskClient, shop: dict[str, Any], settings: Settings, run_worker: Callable[[], bool]
) -> None:
    headers = page_headers(client)
    # As the page's script sends the grid: the cells of a segment in rectangles, a name in two of them.
    scheme = [
        {"name": "Fresh", "r": [5, 5], "f": [1, 5]},
        {"name": "Rest", "r": [1, 4], "f": [2, 5]},
        {"name": "Rest", "r": [1, 4], "f": [1, 1]},
    ]
    saved = client.put("/api/v1/rfm/scheme", json={"segments": scheme}, headers=headers)
    assert saved.status_code == 202
    run_worker()
    html = client.get("/admin/rfm").get_data(as_text=True)
    hooks = Hooks(html)
    assert _segment_of(client, "r5f5") == "Fresh"
    assert _segment_of(client, "r1f1") == "Rest"
    names = [h.attrs["data-segment-name"] for h in hooks.all("data-segment-name")]
    assert names == ["Fresh", "Rest", rfm.PROSPECTS]  # a segment of two rectangles listed once
    sizes = [int(h.attrs["data-segment-size"]) for h in hooks.all("data-segment-size")]
    assert sizes == [1, 6, 2]
    assert 'id="scheme-reset"' in html
    assert 'data-method="DELETE"' in html
    assert "data-confirm" in html

    assert client.delete("/api/v1/rfm/scheme", headers=headers).status_code == 202
    run_worker()
    html = client.get("/admin/rfm").get_data(as_text=True)
    assert 'id="scheme-reset"' not in html
    assert _segment_of(client, "r5f5") == "Champions"
    with session_scope(settings.database_url) as session:
        account = session.get(Account, shop["account"])
        assert account is not None
        assert account.rfm_scheme is None


def test_spender_tiers_show_the_domains_sizes(
    client: FlaskClient, shop: dict[str, Any], settings: Settings
) -> None:
    hooks = Hooks(client.get("/admin/rfm").get_data(as_text=True))
    shown = {h.attrs["data-tier"]: int(h.attrs["data-size"]) for h in hooks.all("data-tier")}
    account = shop["account"]
    with session_scope(settings.database_url) as session:
        mine = RfmScore.account_id == account

        def count(*where: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(RfmScore).where(mine, *where)) or 0)

        contacts = session.scalar(select(func.count()).where(Contact.account_id == account))
        expected = {
            "big": count(RfmScore.spender_tier == "big"),
            "medium": count(RfmScore.spender_tier == "medium"),
            "low": count(RfmScore.spender_tier == "low"),
            "frequent_buyers": count(RfmScore.frequent_buyer.is_(True)),
            "one_time_buyers": count(RfmScore.frequency == 1),
            "returning_buyers": count(RfmScore.frequency > 1),
            "never_purchased": int(contacts or 0) - count(),
        }
    assert shown == expected
    assert shown["one_time_buyers"] == 3
    assert shown["returning_buyers"] == 4
    assert shown["never_purchased"] == 2
    assert shown["big"] == 2  # one per currency: the top 1% holds at least one contact
    # The predefined ones lead to their segment page (export and sync); the others can be saved.
    assert len(hooks.all("data-predefined-segment", "tier-table")) == 5
    saves = {h.attrs["data-name"]: json.loads(h.attrs["data-filter"]) for h in hooks.all("data-save-segment")}
    assert saves == {
        "One-time buyers": {"orders_count": {"min": 1, "max": 1}},
        "Returning buyers": {"orders_count": {"min": 2}},
    }


def test_empty_states_say_so(client: FlaskClient, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        account_id = create_account(session, "Nowy Sklep", "Europe/Warsaw").id
        session.add_all([Contact(account_id=account_id, email=f"p{n}@example.com") for n in range(3)])
    sign_in(client, settings.database_url, account_id)

    html = client.get("/admin/rfm").get_data(as_text=True)
    assert 'id="rfm-empty"' in html
    assert "has not been computed for this account yet" in html
    assert "data-cell" not in html

    with session_scope(settings.database_url) as session:
        assert rfm.compute(session, account_id) == 0
    html = client.get("/admin/rfm").get_data(as_text=True)
    assert "No one has ordered yet" in html
    assert Hooks(html).one("data-never").attrs["data-never"] == "3"
    assert "data-cell" not in html
    assert "data-computed-at" in html


def test_the_kept_sums_equal_the_scores_summed_now(shop: dict[str, Any], settings: Settings) -> None:
    """The page and the API read the sums kept by the computation: they are the scores' own sums."""
    with session_scope(settings.database_url) as session:
        kept = (rfm.overview(session, shop["account"]), rfm.grid(session, shop["account"]))
        summary = session.get(RfmSummary, shop["account"])
        assert summary is not None
        assert summary.payload == rfm.summarize(session, shop["account"])
        session.delete(summary)  # as for an account computed before the sums were kept
        session.flush()
        live = (rfm.overview(session, shop["account"]), rfm.grid(session, shop["account"]))
    assert {**kept[0], "as_of": None} == {**live[0], "as_of": None}
    assert kept[1] == live[1]
