"""The Campaigns pages: the list and a campaign's results equal the API's, per currency, within the
attribution window, with the median days to order; versions in sandboxed frames, a letter's PDF in
the page, sends and who ordered after it; empty states; another account's campaign is not found."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from integration import ingest
from integration.accounts import create_account
from integration.campaigns import preview_links
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import CampaignSend, Contact
from integration.store.types import utcnow
from integration.web.admin import campaigns as pages
from tests.support.builders import bearer, customer, make_store, order
from tests.support.session_tokens import embedded_app
from tests.support.shopify import SHOP
from tests.web.admin.pages import Hooks, set_locale, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FIRST_HTML = "<html><body><h1>Spring sale</h1></body></html>"
SECOND_HTML = "<html><body><h1>Spring sale, last days</h1><script>alert(1)</script></body></html>"
PEOPLE = ("ann", "bob", "cy", "dee", "eve")


# Posts JSON to the API as the account's key: (path, headers, body) -> the answer's JSON.
Post = Callable[[str, dict[str, str], Any], Any]


def client_post(client: FlaskClient) -> Post:
    def post(path: str, headers: dict[str, str], body: Any) -> Any:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.get_data(as_text=True)
        return answer.get_json()

    return post


@pytest.fixture
def ours(settings: Settings, client: FlaskClient) -> dict[str, Any]:
    """The campaigns of `build_campaigns`, signed in as the owner of their account."""
    data = build_campaigns(settings.database_url, client_post(client))
    data["user"] = sign_in(client, settings.database_url, data["account"])
    return data


def build_campaigns(database_url: str, post: Post) -> dict[str, Any]:
    """An account (7-day attribution window) with a euro and a złoty store and five customers; an
    email of two versions sent to all five, a letter to ann, a campaign with no sends; and another
    account's campaign. Campaigns and sends are recorded through the API."""
    sent = utcnow().replace(microsecond=0) - timedelta(days=30)
    with session_scope(database_url) as session:
        account = create_account(session, "Campaign shop", "Europe/Warsaw")
        account.attribution_window_days = 7
        euros = make_store(session, "EUR", account_id=account.id)
        zloty = make_store(session, "PLN", account_id=account.id)
        ingest.ingest_customers(
            session, euros, [customer(f"c-{p}", f"{p}@example.com", sent) for p in PEOPLE]
        )
        headers = bearer(session, account.id)
        other = create_account(session, "Other shop", "UTC").id
        other_headers = bearer(session, other)
        empty = create_account(session, "Empty shop", "UTC").id
    email = post(
        "/api/v1/campaigns",
        headers,
        {"channel": "email", "name": "Spring sale", "preview_html": FIRST_HTML},
    )
    post(
        f"/api/v1/campaigns/{email['id']}/sends",
        headers,
        [{"email": "ann@example.com", "status": "sent", "sent_at": sent.isoformat()}],
    )
    post(
        "/api/v1/campaigns",
        headers,
        {"id": email["external_id"], "channel": "email", "name": "Spring sale", "preview_html": SECOND_HTML},
    )
    day = timedelta(days=1)
    post(
        f"/api/v1/campaigns/{email['id']}/sends",
        headers,
        [
            {
                "email": "ann@example.com",
                "status": "delivered",
                "delivered_at": (sent + timedelta(hours=1)).isoformat(),
            },
            {"email": "bob@example.com", "status": "sent", "sent_at": sent.isoformat()},
            {"email": "cy@example.com", "status": "failed", "failed_at": sent.isoformat()},
            {"email": "dee@example.com", "status": "queued", "queued_at": sent.isoformat()},
            {
                "email": "eve@example.com",
                "status": "delivered",
                "sent_at": sent.isoformat(),
                "delivered_at": (sent + day).isoformat(),
            },
        ],
    )
    letter = post(
        "/api/v1/campaigns",
        headers,
        {"channel": "letter", "name": "Autumn letter", "preview_pdf_base64": base64.b64encode(PDF).decode()},
    )
    post(
        f"/api/v1/campaigns/{letter['id']}/sends",
        headers,
        [{"email": "ann@example.com", "status": "delivered", "sent_at": (sent - 3 * day).isoformat()}],
    )
    quiet = post("/api/v1/campaigns", headers, {"channel": "email", "name": "Not sent yet"})
    theirs = post(
        "/api/v1/campaigns",
        other_headers,
        {"channel": "email", "name": "Theirs", "preview_html": FIRST_HTML},
    )
    with session_scope(database_url) as session:
        ids = {c.email.split("@")[0]: c.id for c in session.scalars(select(Contact)) if c.email}
        session.execute(
            update(CampaignSend)
            .where(
                CampaignSend.campaign_id == email["id"], CampaignSend.contact_id.in_([ids["ann"], ids["bob"]])
            )
            .values(opened_at=sent + timedelta(hours=3))
        )
        session.execute(
            update(CampaignSend)
            .where(CampaignSend.campaign_id == email["id"], CampaignSend.contact_id == ids["ann"])
            .values(clicked_at=sent + timedelta(hours=4))
        )
        session.execute(
            update(CampaignSend)
            .where(CampaignSend.campaign_id == letter["id"])
            .values(scanned_at=sent - 2 * day)
        )
        stores = {s.currency: s for s in (session.merge(euros), session.merge(zloty))}
        ingest.ingest_orders(
            session,
            stores["EUR"],
            [
                # ann: 2 days after the email (its first order then: credited), and again on day 3.
                order(
                    "o-ann-1",
                    sent + 2 * day + timedelta(hours=1),
                    name="#1001",
                    email="ann@example.com",
                    total_price=Decimal("80.00"),
                ),
                order(
                    "o-ann-2",
                    sent + 3 * day + timedelta(hours=1),
                    name="#1002",
                    email="ann@example.com",
                    total_price=Decimal("15.00"),
                ),
                # eve: 10 days after, outside the 7-day window: not credited.
                order(
                    "o-eve",
                    sent + 10 * day,
                    name="#1003",
                    email="eve@example.com",
                    total_price=Decimal("500.00"),
                ),
            ],
        )
        ingest.ingest_orders(
            session,
            stores["PLN"],
            [
                order(
                    "o-bob",
                    sent + 5 * day + timedelta(hours=2),
                    name="#2001",
                    email="bob@example.com",
                    currency="PLN",
                    total_price=Decimal("120.00"),
                )
            ],
        )
    return {
        "account": account.id,
        "email": email["id"],
        "letter": letter["id"],
        "quiet": quiet["id"],
        "theirs": theirs["id"],
        "empty": empty,
        "ids": ids,
        "headers": headers,
    }


def page(client: FlaskClient, path: str, status: int = 200) -> tuple[str, Hooks]:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)[:2000]
    html = answer.get_data(as_text=True)
    return html, Hooks(html)


def _revenue(hooks: Hooks, within: str) -> list[dict[str, str]]:
    return [
        {"currency": h.attrs["data-revenue"], "amount": h.attrs["data-amount"]}
        for h in hooks.all("data-revenue", within)
        if h.attrs["data-revenue"]
    ]


def test_the_list_shows_the_apis_numbers_per_currency_with_the_median(
    client: FlaskClient, ours: dict[str, Any]
) -> None:
    api = client.get("/api/v1/campaigns", headers=ours["headers"]).get_json()["campaigns"]
    html, hooks = page(client, "/admin/campaigns")
    links = hooks.all("data-campaign", "campaign-list")
    assert [int(h.attrs["data-campaign"]) for h in links] == [c["id"] for c in api]
    assert [h.text for h in links] == ["Not sent yet", "Autumn letter", "Spring sale"]
    assert "Theirs" not in html
    rows = html.split("data-campaign=")[1:]
    for campaign, row in zip(api, rows, strict=True):
        one = Hooks(row)
        assert one.one("data-channel").attrs["data-channel"] == campaign["channel"]
        assert int(one.one("data-sends").attrs["data-sends"]) == campaign["sends"]
        shown = {h.attrs["data-status"]: int(h.attrs["data-count"]) for h in one.all("data-status")}
        assert shown == {s: n for s, n in campaign["by_status"].items() if n}
        for key in ("opened", "clicked", "scanned", "ordered"):
            assert int(one.one(f"data-{key}").attrs[f"data-{key}"]) == campaign[key], key
        assert [
            {"currency": h.attrs["data-revenue"], "amount": h.attrs["data-amount"]}
            for h in one.all("data-revenue")
            if h.attrs["data-revenue"]
        ] == campaign["revenue"]
    spring = Hooks(rows[2])
    # Two currencies side by side, never added; eve's order came after the window.
    assert [(h.attrs["data-revenue"], h.text) for h in spring.all("data-revenue")] == [
        ("EUR", "€80.00"),
        ("PLN", "PLN120.00"),
    ]
    assert spring.one("data-ordered").attrs["data-ordered"] == "2"
    # ann ordered 2 days after, bob 5: the median is 3.5 days (the results' own figure).
    results = client.get(f"/api/v1/campaigns/{ours['email']}/results", headers=ours["headers"]).get_json()
    assert results["median_days_to_order"] == 3.5
    assert spring.one("data-median").attrs["data-median"] == "3.5"
    assert spring.text("data-median") == "3.5 days"
    assert Hooks(rows[0]).text("data-median") == "–"
    assert "within 7 days after a send" in html


def test_the_list_pages_by_keyset(
    client: FlaskClient, ours: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(pages, "CAMPAIGNS_SHOWN", 2)
    _, first = page(client, "/admin/campaigns")
    assert len(first.all("data-campaign", "campaign-list")) == 2
    next_url = first.one("data-next-page").attrs["href"]
    _, second = page(client, next_url.replace("&amp;", "&"))
    assert [h.text for h in second.all("data-campaign", "campaign-list")] == ["Spring sale"]
    assert not second.all("data-next-page")
    _, again = page(client, "/admin/campaigns?cursor=not-a-cursor")
    assert len(again.all("data-campaign", "campaign-list")) == 2


def test_a_campaign_shows_the_apis_results_sends_and_who_ordered(
    client: FlaskClient, ours: dict[str, Any]
) -> None:
    campaign_id, ids = ours["email"], ours["ids"]
    api = client.get(f"/api/v1/campaigns/{campaign_id}/results", headers=ours["headers"]).get_json()
    html, hooks = page(client, f"/admin/campaigns/{campaign_id}")
    facts = "result-facts"
    assert int(hooks.one("data-sends", facts).attrs["data-sends"]) == api["sends"] == 5
    assert {
        h.attrs["data-status"]: int(h.attrs["data-count"]) for h in hooks.all("data-status", facts)
    } == api["by_status"]
    for key in ("opened", "clicked", "scanned", "ordered"):
        assert int(hooks.one(f"data-{key}", facts).attrs[f"data-{key}"]) == api[key], key
    assert (api["opened"], api["clicked"], api["ordered"]) == (2, 1, 2)
    assert (
        _revenue(hooks, facts)
        == api["revenue"]
        == [
            {"currency": "EUR", "amount": "80.00"},
            {"currency": "PLN", "amount": "120.00"},
        ]
    )
    assert float(hooks.one("data-median", facts).attrs["data-median"]) == api["median_days_to_order"]
    assert hooks.one("data-window").attrs["data-window"] == str(api["attribution_window_days"]) == "7"
    assert "within 7 days after the send" in html

    # Sends: one row per contact the API recorded, its status and marks, linked to the profile.
    sends = {int(h.attrs["data-contact"]): h for h in hooks.all("data-contact", "send-table")}
    assert set(sends) == {ids[p] for p in PEOPLE}
    assert all(h.attrs["href"] == f"/admin/contacts/{i}" for i, h in sends.items())
    statuses = [h.attrs["data-send-status"] for h in hooks.all("data-send-status", "send-table")]
    assert sorted(statuses) == sorted(s for s, n in api["by_status"].items() for _ in range(n))
    assert (
        len([h for h in hooks.all("data-opened-at", "send-table") if h.attrs["data-opened-at"]])
        == api["opened"]
    )
    assert (
        len([h for h in hooks.all("data-clicked-at", "send-table") if h.attrs["data-clicked-at"]])
        == api["clicked"]
    )
    assert len(hooks.all("data-send-order", "send-table")) == api["ordered"]

    # Who ordered: ann's first order (2 days after), bob's złoty order (5 days); not eve's, too late.
    orders = hooks.all("data-order", "order-table")
    assert [h.text for h in orders] == ["#1001", "#2001"]
    assert [h.attrs["data-days"] for h in hooks.all("data-days", "order-table")] == ["2", "5"]
    assert [
        (h.attrs["data-total"], h.attrs["data-currency"]) for h in hooks.all("data-total", "order-table")
    ] == [
        ("80.00", "EUR"),
        ("120.00", "PLN"),
    ]
    assert [int(h.attrs["data-contact"]) for h in hooks.all("data-contact", "order-table")] == [
        ids["ann"],
        ids["bob"],
    ]
    assert "#1003" not in html


def test_sends_are_paged(client: FlaskClient, ours: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(pages, "SENDS_SHOWN", 3)
    monkeypatch.setattr(pages, "ORDERS_SHOWN", 1)
    _, first = page(client, f"/admin/campaigns/{ours['email']}")
    seen = [h.attrs["data-contact"] for h in first.all("data-contact", "send-table")]
    assert len(seen) == 3
    _, second = page(client, first.one("data-next-sends").attrs["href"].replace("&amp;", "&"))
    seen += [h.attrs["data-contact"] for h in second.all("data-contact", "send-table")]
    assert sorted(map(int, seen)) == sorted(ours["ids"][p] for p in PEOPLE)
    assert [h.text for h in first.all("data-order", "order-table")] == ["#1001"]
    _, later = page(client, first.one("data-next-orders").attrs["href"].replace("&amp;", "&"))
    assert [h.text for h in later.all("data-order", "order-table")] == ["#2001"]
    assert not later.all("data-next-orders")


def test_versions_show_sandboxed_and_a_letters_pdf_in_the_page(
    client: FlaskClient, ours: dict[str, Any], settings: Settings
) -> None:
    html, hooks = page(client, f"/admin/campaigns/{ours['email']}")
    versions = hooks.all("data-version")
    assert len(versions) == 2
    assert "open" in versions[0].attrs
    assert "open" not in versions[1].attrs
    frames = html.split('<iframe class="preview-frame"')[1:]
    assert len(frames) == 2
    assert all(f.lstrip().startswith('sandbox=""') for f in frames)
    # Each frame's signed link opens exactly that version, in a sandbox.
    sources = [f.split('src="')[1].split('"')[0].replace("&amp;", "&") for f in frames]
    answers = [client.get(s) for s in sources]
    assert [a.get_data(as_text=True) for a in answers] == [SECOND_HTML, FIRST_HTML]
    assert all(a.headers["Content-Security-Policy"].startswith("sandbox;") for a in answers)
    token = sources[0].rsplit("/", 1)[1]
    link = preview_links.resolve(settings.secret_key, token)
    assert (link.account_id, link.campaign_id) == (ours["account"], ours["email"])
    # The first version went to ann only; the second to the four recorded after it.
    assert "· 4 sends" in hooks.all("data-version")[0].text
    assert "· 1 send" in hooks.all("data-version")[1].text

    html, hooks = page(client, f"/admin/campaigns/{ours['letter']}")
    assert hooks.one("data-version").attrs["data-preview"] == "application/pdf"
    frame = html.split('<iframe class="preview-frame"')[1]
    assert "sandbox" not in frame.split(">")[0]  # Chromium shows no PDF in a sandbox; a PDF runs no script
    pdf = client.get(frame.split('src="')[1].split('"')[0].replace("&amp;", "&"))
    assert pdf.data == PDF
    assert pdf.content_type == "application/pdf"
    assert hooks.one("data-scanned", "result-facts").attrs["data-scanned"] == "1"


def test_empty_states_say_so(client: FlaskClient, ours: dict[str, Any], settings: Settings) -> None:
    html, hooks = page(client, f"/admin/campaigns/{ours['quiet']}")
    assert "No sends recorded for this campaign yet, so there are no results to show." in html
    assert "No sends recorded for this campaign yet." in html
    assert "No one has ordered within the attribution window yet." in html
    assert hooks.one("data-sends", "result-facts").attrs["data-sends"] == "0"
    assert hooks.all("data-no-versions")

    sign_in(client, settings.database_url, ours["empty"])
    html, hooks = page(client, "/admin/campaigns")
    assert not hooks.all("data-campaign")
    assert "No campaign yet." in html


def test_another_accounts_campaign_is_not_found(client: FlaskClient, ours: dict[str, Any]) -> None:
    html, _ = page(client, f"/admin/campaigns/{ours['theirs']}", 404)
    assert "Theirs" not in html
    assert "does not exist, or it belongs to another account" in html
    page(client, "/admin/campaigns/999999999", 404)


def test_the_navigation_lists_campaigns_after_segments(client: FlaskClient, ours: dict[str, Any]) -> None:
    html, _ = page(client, "/admin/campaigns")
    assert (
        html.index('href="/admin/segments"')
        < html.index('href="/admin/campaigns"')
        < html.index('href="/admin/setup"')
    )
    assert (
        'aria-current="page"' in html.split('href="/admin/campaigns"')[1].split(">")[0]
        or 'href="/admin/campaigns" aria-current="page"' in html
    )


@pytest.mark.parametrize(
    ("locale", "euros", "median"), [("pl", "80,00\xa0€", "3,5"), ("es", "80,00\xa0€", "3,5")]
)
def test_the_pages_write_numbers_the_languages_way(
    client: FlaskClient, ours: dict[str, Any], settings: Settings, locale: str, euros: str, median: str
) -> None:
    set_locale(settings.database_url, ours["user"], locale)
    html, hooks = page(client, "/admin/campaigns")
    assert f'lang="{locale}"' in html
    spring = Hooks(html.split("data-campaign=")[3])
    assert spring.all("data-revenue")[0].text == euros
    assert spring.text("data-median").startswith(median)
    _, hooks = page(client, f"/admin/campaigns/{ours['email']}")
    assert hooks.one("data-sends", "result-facts").attrs["data-sends"] == "5"
    assert hooks.text("data-median", "result-facts").startswith(median)


@pytest.fixture
def embedded(shopify_settings: Settings, shop: int, ours: dict[str, Any]) -> tuple[Flask, str]:
    """The app inside Shopify's admin, its connected shop moved to the campaigns' account."""
    return embedded_app(shopify_settings, shop, ours["account"])


def test_both_pages_render_embedded_and_previews_may_be_framed_by_the_shops_admin(
    embedded: tuple[Flask, str], ours: dict[str, Any]
) -> None:
    app, query = embedded
    client = app.test_client()
    html, hooks = page(client, f"/admin/campaigns?{query}")
    assert "<s-page" in html
    assert "<main" not in html
    assert f"/admin/campaigns/{ours['email']}?embedded=1" in html  # links stay embedded
    assert [h.attrs["data-ordered"] for h in hooks.all("data-ordered")] == ["0", "1", "2"]
    html, hooks = page(client, f"/admin/campaigns/{ours['email']}?{query}")
    assert "<s-section" in html
    assert hooks.one("data-ordered", "result-facts").attrs["data-ordered"] == "2"
    frame = html.split('<iframe class="preview-frame"')[1].split('src="')[1].split('"')[0]
    answer = client.get(frame.replace("&amp;", "&"))
    assert answer.status_code == 200
    assert (
        f"frame-ancestors 'self' https://{SHOP} https://admin.shopify.com"
        in answer.headers["Content-Security-Policy"]
    )
    missing = client.get(f"/admin/campaigns/{ours['theirs']}?{query}")
    assert missing.status_code == 404
    assert "<s-banner" in missing.get_data(as_text=True)
