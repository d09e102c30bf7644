"""Campaigns, sends and the customer profile through the API; results agree with the profiles."""

from __future__ import annotations

import base64
import json
import statistics
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select

from integration import ingest
from integration.commerce.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import get_engine
from integration.store.models import Contact, Store
from tests.support.builders import NOW, bearer, checkout, customer, item, make_store, order, store_of

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SENT = NOW - timedelta(days=60)


@pytest.fixture(autouse=True)
def campaign_audience(settings: Settings, api_shop: dict[str, Any]) -> None:
    """ann, bob and cy, customers since the day before the sends; the shop gets their ids by name."""
    with session_scope(settings.database_url) as session:
        ingest.ingest_customers(
            session,
            store_of(session, api_shop),
            [customer(c, f"{c}@example.com", SENT - timedelta(days=1)) for c in ("ann", "bob", "cy")],
        )
        api_shop.update({c.email.split("@")[0]: c.id for c in session.scalars(select(Contact))})


def _json(response: Any) -> Any:
    assert response.status_code < 300, response.get_data(as_text=True)
    return response.get_json()


def _letter(client: FlaskClient, api_shop: dict[str, Any], pdf: bytes = PDF, **extra: Any) -> dict[str, Any]:
    body = {
        "channel": "letter",
        "name": "Winter letter",
        "preview_pdf_base64": base64.b64encode(pdf).decode(),
    }
    return _json(client.post("/api/v1/campaigns", json={**body, **extra}, headers=api_shop["headers"]))


def test_a_letter_campaign_shows_on_each_profile_and_its_results_agree(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, run_worker: Any
) -> None:
    campaign = _letter(client, api_shop)
    assert campaign["channel"] == "letter"
    assert campaign["preview"]["content_type"] == "application/pdf"
    sent = SENT.isoformat()
    answer = _json(
        client.post(
            f"/api/v1/campaigns/{campaign['id']}/sends",
            json=[
                {"contact_id": api_shop["ann"], "status": "sent", "sent_at": sent},
                {"email": "bob@example.com", "status": "sent", "sent_at": sent},
                {"contact_id": api_shop["cy"], "status": "sent", "sent_at": sent},
            ],
            headers=api_shop["headers"],
        )
    )
    assert answer == {"written": 3, "refused": []}
    # Cy's letter comes back undelivered.
    returned = (SENT + timedelta(days=3)).isoformat()
    client.post(
        f"/api/v1/campaigns/{campaign['id']}/sends",
        json=[{"contact_id": api_shop["cy"], "status": "returned", "returned_at": returned}],
        headers=api_shop["headers"],
    )
    # Ann scans the letter's QR code; the event names the campaign by its id.
    scan = {
        "event_id": "scan-1",
        "email": "ann@example.com",
        "type": "qr_scan",
        "campaign_id": campaign["external_id"],
        "occurred_at": (SENT + timedelta(days=2)).isoformat(),
    }
    _json(client.post(f"/api/v1/stores/{api_shop['store']}/events", json=[scan], headers=api_shop["headers"]))
    run_worker()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, api_shop["store"])
        ingest.ingest_orders(
            session,
            store,
            [
                order("a1", SENT + timedelta(days=5, hours=3), email="ann@example.com", total_price="80.00"),
                order("a2", SENT + timedelta(days=9), email="ann@example.com", total_price="20.00"),
                order("b1", SENT + timedelta(days=40), email="bob@example.com"),
                # Within the window, but Cy's letter never reached Cy: it is not credited with the order.
                order("c1", SENT + timedelta(days=6), email="cy@example.com"),
            ],
        )

    profiles = {
        name: _json(client.get(f"/api/v1/contacts/{api_shop[name]}", headers=api_shop["headers"]))
        for name in ("ann", "bob", "cy")
    }
    [ann_send] = profiles["ann"]["campaigns"]
    assert ann_send["campaign"]["channel"] == "letter"
    assert ann_send["status"] == "sent"
    assert ann_send["scanned_at"] is not None
    assert ann_send["preview"]["url"].endswith(f"/previews/{campaign['preview']['id']}")
    assert (ann_send["attribution"]["days"], ann_send["attribution"]["total_price"]) == (5, "80.00")
    assert profiles["bob"]["campaigns"][0]["attribution"] is None  # 40 days: outside the 30-day window
    assert profiles["cy"]["campaigns"][0]["status"] == "returned"
    assert profiles["cy"]["campaigns"][0]["attribution"] is None

    results = _json(client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=api_shop["headers"]))
    assert results["by_status"] == {"queued": 0, "sent": 2, "delivered": 0, "returned": 1, "failed": 0}
    assert (results["sends"], results["scanned"], results["opened"]) == (3, 1, 0)
    attributed = [p for p in profiles.values() if p["campaigns"][0]["attribution"]]
    assert results["ordered"] == len(attributed) == 1
    assert results["revenue"] == [{"currency": "EUR", "amount": "80.00"}]
    assert results["median_days_to_order"] == 5

    preview = client.get(ann_send["preview"]["url"], headers=api_shop["headers"])
    assert (preview.status_code, preview.content_type, preview.data) == (200, "application/pdf", PDF)

    # The sends in pages by contact, each as its profile shows it; the credited orders.
    base = f"/api/v1/campaigns/{campaign['id']}"
    first = _json(client.get(f"{base}/sends?limit=2", headers=api_shop["headers"]))
    rest = _json(client.get(f"{base}/sends?limit=2&after={first['next_after']}", headers=api_shop["headers"]))
    assert rest["next_after"] is None
    listed = first["sends"] + rest["sends"]
    by_id = sorted(("ann", "bob", "cy"), key=lambda who: api_shop[who])
    assert [s["contact"]["id"] for s in listed] == [api_shop[who] for who in by_id]
    for who, send in zip(by_id, listed, strict=True):
        shown = profiles[who]["campaigns"][0]
        assert (send["status"], send["scanned_at"], send["attribution"]) == (
            shown["status"],
            shown["scanned_at"],
            shown["attribution"],
        )
    credited = _json(client.get(f"{base}/orders", headers=api_shop["headers"]))
    assert credited["next_cursor"] is None
    assert [(o["contact"]["email"], o["order"]["total_price"], o["days"]) for o in credited["orders"]] == [
        ("ann@example.com", "80.00", 5)
    ]
    assert client.get("/api/v1/campaigns/999999/sends", headers=api_shop["headers"]).status_code == 404
    assert client.get(f"{base}/orders?cursor=nonsense", headers=api_shop["headers"]).status_code == 422
    assert client.get(f"{base}/sends?limit=201", headers=api_shop["headers"]).status_code == 422


def test_sends_keep_the_preview_they_were_sent_with_and_status_only_moves_forward(
    client: FlaskClient, api_shop: dict[str, Any]
) -> None:
    first = _letter(client, api_shop, id="winter")
    url = f"/api/v1/campaigns/{first['id']}/sends"
    at = SENT.isoformat()
    _json(
        client.post(
            url,
            json=[{"contact_id": api_shop["ann"], "status": "delivered", "delivered_at": at}],
            headers=api_shop["headers"],
        )
    )
    second = _letter(client, api_shop, pdf=PDF.replace(b"Catalog", b"Catalog2"), id="winter")
    assert second["id"] == first["id"]
    assert second["preview"]["id"] != first["preview"]["id"]
    # A late "sent" update after "delivered": the status stays, the time is kept.
    _json(
        client.post(
            url,
            json=[
                {"contact_id": api_shop["ann"], "status": "sent", "sent_at": at},
                {"contact_id": api_shop["bob"], "status": "queued"},
            ],
            headers=api_shop["headers"],
        )
    )
    sends = {
        s["campaign"]["id"]: s
        for s in _json(client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]))[
            "campaigns"
        ]
    }
    ann = sends[first["id"]]
    assert (ann["status"], ann["sent_at"], ann["delivered_at"]) == ("delivered", at, at)
    assert ann["preview"]["id"] == first["preview"]["id"]
    bob = _json(client.get(f"/api/v1/contacts/{api_shop['bob']}", headers=api_shop["headers"]))["campaigns"][
        0
    ]
    assert bob["preview"]["id"] == second["preview"]["id"]


def test_invalid_sends_and_campaigns_are_refused_with_reasons(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        stranger = make_store(session)
        ingest.ingest_customers(session, stranger, [customer("z", "zed@example.com")])
        zed = session.scalars(select(Contact.id).where(Contact.email == "zed@example.com")).one()
    campaign = _letter(client, api_shop)
    answer = _json(
        client.post(
            f"/api/v1/campaigns/{campaign['id']}/sends",
            json=[
                {"status": "sent"},
                {"contact_id": zed, "status": "sent"},
                {"contact_id": api_shop["ann"], "status": "lost"},
                {"contact_id": api_shop["ann"], "status": "sent"},
            ],
            headers=api_shop["headers"],
        )
    )
    assert answer["written"] == 1
    assert [r["index"] for r in answer["refused"]] == [0, 1, 2]
    assert "status" in answer["refused"][2]["errors"]
    bad_pdf = {"channel": "letter", "name": "x", "preview_pdf_base64": base64.b64encode(b"<html>").decode()}
    assert client.post("/api/v1/campaigns", json=bad_pdf, headers=api_shop["headers"]).status_code == 422
    html_letter = {"channel": "letter", "name": "x", "preview_html": "<p>hi</p>"}
    assert client.post("/api/v1/campaigns", json=html_letter, headers=api_shop["headers"]).status_code == 422
    assert (
        client.post("/api/v1/campaigns/999999/sends", json=[], headers=api_shop["headers"]).status_code == 404
    )
    other = make_headers(settings)
    assert client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=other).status_code == 404


def make_headers(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        return bearer(session, make_store(session).account_id)


def _with_last_id(cursor: str, last_id: int, other: int) -> str:
    """The cursor with the id of the last row it names replaced (base64 text ending in that id)."""
    payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    head, tail = payload.rsplit(str(last_id), 1)
    return base64.urlsafe_b64encode(f"{head}{other}{tail}".encode()).decode()


def test_the_profile_lists_ten_orders_newest_first_and_all_on_request(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        store = session.get(Store, api_shop["store"])
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    f"o{i:02}",
                    NOW - timedelta(days=i),
                    email="ann@example.com",
                    line_items=[item("Coat", "100.00"), item("Scarf", "20.00", quantity=2)],
                    total_price="138.00",
                    total_discounts="10.00",
                    total_shipping="5.00",
                    total_tax="3.00",
                )
                for i in range(12)
            ],
        )
    url = f"/api/v1/contacts/{api_shop['ann']}"
    first = _json(client.get(url, headers=api_shop["headers"]))
    assert [o["external_id"] for o in first["orders"]] == [f"o{i:02}" for i in range(10)]
    assert first["orders_count"] == 12
    rest = _json(
        client.get(f"{url}?orders_cursor={first['orders_next_cursor']}", headers=api_shop["headers"])
    )
    assert [o["external_id"] for o in rest["orders"]] == ["o10", "o11"]
    assert rest["orders_next_cursor"] is None
    everything = _json(client.get(f"{url}?orders=all", headers=api_shop["headers"]))
    assert len(everything["orders"]) == 12
    assert client.get(f"{url}?orders=0", headers=api_shop["headers"]).status_code == 422
    assert client.get(f"{url}?orders_cursor=nonsense", headers=api_shop["headers"]).status_code == 422
    # A cursor changed to name an order id no store can hold is refused like any other.
    tampered = _with_last_id(first["orders_next_cursor"], first["orders"][-1]["id"], 2**64)
    answer = client.get(f"{url}?orders_cursor={tampered}", headers=api_shop["headers"])
    assert (answer.status_code, answer.get_json()["code"]) == (422, "invalid_cursor")

    detail = _json(client.get(f"{url}/orders/{first['orders'][0]['id']}", headers=api_shop["headers"]))
    assert [(i["title"], i["quantity"], i["unit_price"], i["line_total"]) for i in detail["line_items"]] == [
        ("Coat", 1, "100.00", "100.00"),
        ("Scarf", 2, "20.00", "40.00"),
    ]
    parts = [Decimal(detail[k]) for k in ("items_total", "total_discounts", "total_shipping", "total_tax")]
    assert parts[0] - parts[1] + parts[2] + parts[3] == Decimal(detail["total_price"]) == Decimal("138")
    assert detail["adds_up"] is True
    assert (
        client.get(
            f"/api/v1/contacts/{api_shop['bob']}/orders/{detail['id']}", headers=api_shop["headers"]
        ).status_code
        == 404
    )


def test_the_profile_shows_cart_badges_and_whether_the_contact_was_just_written_to(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    from integration.store.types import utcnow

    now = utcnow()
    with session_scope(settings.database_url) as session:
        store = session.get(Store, api_shop["store"])
        ingest.ingest_checkouts(
            session,
            store,
            [
                checkout(
                    "left", now - timedelta(days=3), email="ann@example.com", recovery_url="https://shop/r/1"
                ),
                checkout("back", now - timedelta(days=3), email="ann@example.com"),
            ],
        )
        mark_abandoned(session, now=now)
        ingest.ingest_orders(
            session,
            store,
            [order("o1", now - timedelta(days=1), email="ann@example.com", checkout_token="back")],
        )
    campaign = _letter(client, api_shop)
    client.post(
        f"/api/v1/campaigns/{campaign['id']}/sends",
        headers=api_shop["headers"],
        json=[
            {
                "contact_id": api_shop["ann"],
                "status": "sent",
                "sent_at": (now - timedelta(days=2)).isoformat(),
            }
        ],
    )
    ann = _json(client.get(f"/api/v1/contacts/{api_shop['ann']}", headers=api_shop["headers"]))
    assert ann["orders"][0]["badges"] == ["recovered_cart"]
    [cart] = ann["abandoned_carts"]
    assert (cart["token"], cart["recovery_url"], cart["badges"]) == (
        "left",
        "https://shop/r/1",
        ["abandoned_cart"],
    )
    assert cart["items"][0]["line_total"] == "29.90"
    assert ann["recently_contacted"] is True
    assert ann["frequency_cap_days"] == 14
    bob = _json(client.get(f"/api/v1/contacts/{api_shop['bob']}", headers=api_shop["headers"]))
    assert (bob["recently_contacted"], bob["last_contacted_at"], bob["orders"]) == (False, None, [])
    assert json.dumps(ann)  # the whole profile is plain JSON


# ---- opens, clicks and scans through the API, whatever the order of arrival ---------------------

OPENED = SENT + timedelta(hours=2)


def _newsletter_events(run: str = "") -> list[dict[str, Any]]:
    """Opens and clicks of the `autumn` newsletter and a scan of the `catalogue` letter."""

    def ev(event_id: str, kind: str, who: str, at: Any, campaign: str, **extra: Any) -> dict[str, Any]:
        return {
            "event_id": f"{run}{event_id}",
            "type": kind,
            "email": f"{who}@example.com",
            "campaign_id": campaign,
            "occurred_at": at.isoformat(),
            **extra,
        }

    return [
        ev("m1", "email_open", "ann", SENT + timedelta(minutes=1), "autumn", machine_open=True),
        ev("o1", "email_open", "ann", OPENED, "autumn"),
        ev("c1", "email_click", "ann", OPENED + timedelta(minutes=3), "autumn"),
        ev("o2", "email_open", "bob", OPENED + timedelta(days=1), "autumn"),
        ev("m2", "email_open", "cy", SENT + timedelta(minutes=1), "autumn", machine_open=True),
        ev("s1", "qr_scan", "cy", SENT + timedelta(days=4), "catalogue"),
    ]


def _post_events(
    client: FlaskClient, api_shop: dict[str, Any], events: list[dict[str, Any]], run_worker: Any
) -> Any:
    answer = _json(
        client.post(f"/api/v1/stores/{api_shop['store']}/events", json=events, headers=api_shop["headers"])
    )
    run_worker()
    return answer


def _create_campaigns(client: FlaskClient, api_shop: dict[str, Any], ids: dict[str, int]) -> None:
    email = {"id": "autumn", "channel": "email", "name": "Autumn news", "preview_html": "<p>Autumn</p>"}
    ids["autumn"] = _json(client.post("/api/v1/campaigns", json=email, headers=api_shop["headers"]))["id"]
    ids["catalogue"] = _letter(client, api_shop, id="catalogue")["id"]


def _record_sends(client: FlaskClient, api_shop: dict[str, Any], ids: dict[str, int]) -> None:
    sent = {"status": "delivered", "sent_at": SENT.isoformat()}
    for name, who in (("autumn", ("ann", "bob", "cy")), ("catalogue", ("cy",))):
        sends = [{"contact_id": api_shop[w], **sent} for w in who]
        url = f"/api/v1/campaigns/{ids[name]}/sends"
        assert _json(client.post(url, json=sends, headers=api_shop["headers"]))["written"] == len(who)


@pytest.mark.parametrize(
    "order",
    [("events", "campaigns", "sends"), ("campaigns", "events", "sends"), ("campaigns", "sends", "events")],
    ids="-then-".join,
)
def test_opens_clicks_and_scans_count_whatever_the_order_they_arrive_in(
    client: FlaskClient, api_shop: dict[str, Any], run_worker: Any, order: tuple[str, ...]
) -> None:
    ids: dict[str, int] = {}
    steps = {
        "events": lambda: _post_events(client, api_shop, _newsletter_events(), run_worker),
        "campaigns": lambda: _create_campaigns(client, api_shop, ids),
        "sends": lambda: _record_sends(client, api_shop, ids),
    }
    for step in order:
        steps[step]()

    def results(name: str) -> dict[str, Any]:
        return _json(client.get(f"/api/v1/campaigns/{ids[name]}/results", headers=api_shop["headers"]))

    def sends_of(who: str) -> dict[str, dict[str, Any]]:
        profile = _json(client.get(f"/api/v1/contacts/{api_shop[who]}", headers=api_shop["headers"]))
        return {s["campaign"]["id"]: s for s in profile["campaigns"]}

    autumn, catalogue = results("autumn"), results("catalogue")
    assert (autumn["sends"], autumn["opened"], autumn["clicked"], autumn["scanned"]) == (3, 2, 1, 0)
    assert (catalogue["sends"], catalogue["opened"], catalogue["scanned"]) == (1, 0, 1)
    ann, cy = sends_of("ann")[ids["autumn"]], sends_of("cy")
    assert (ann["opened_at"], ann["clicked_at"]) == (
        OPENED.isoformat(),
        (OPENED + timedelta(minutes=3)).isoformat(),
    )
    assert cy[ids["autumn"]]["opened_at"] is None  # a machine open is no open
    assert cy[ids["catalogue"]]["scanned_at"] == (SENT + timedelta(days=4)).isoformat()

    # The same events again (another delivery) count once; an earlier open delivered late moves it.
    again = _post_events(client, api_shop, [*_newsletter_events(), _newsletter_events()[0]], run_worker)
    assert (again["written"], again["unchanged"], again["duplicate"]) == (0, 0, 7)
    early = {
        **_newsletter_events()[1],
        "event_id": "o0",
        "occurred_at": (OPENED - timedelta(hours=1)).isoformat(),
    }
    _post_events(client, api_shop, [early], run_worker)
    assert sends_of("ann")[ids["autumn"]]["opened_at"] == (OPENED - timedelta(hours=1)).isoformat()
    assert results("autumn")["opened"] == 2


# ---- the list of campaigns -----------------------------------------------------------------------

RESULT_FIELDS = ("sends", "by_status", "opened", "clicked", "scanned", "ordered", "revenue")


@pytest.fixture
def five_campaigns(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, run_worker: Any
) -> list[int]:
    """Five campaigns, oldest first, with sends, opens, scans and orders in two currencies."""
    ids = []
    for n in range(5):
        body = {"id": f"c{n}", "channel": "email", "name": f"News {n}", "preview_html": f"<p>{n}</p>"}
        ids.append(_json(client.post("/api/v1/campaigns", json=body, headers=api_shop["headers"]))["id"])
        who = [api_shop[name] for name in ("ann", "bob", "cy")[: n % 3 + 1]]
        sends = [
            {"contact_id": c, "status": "sent", "sent_at": (SENT + timedelta(days=n)).isoformat()}
            for c in who
        ]
        client.post(f"/api/v1/campaigns/{ids[-1]}/sends", json=sends, headers=api_shop["headers"])
    events = [
        {"event_id": f"e{n}", "type": kind, "email": "ann@example.com", "campaign_id": f"c{n}",
         "occurred_at": (SENT + timedelta(days=n, hours=1)).isoformat()}
        for n, kind in ((0, "email_open"), (1, "email_click"), (3, "email_open"), (4, "qr_scan"))
    ]  # fmt: skip
    _post_events(client, api_shop, events, run_worker)
    with session_scope(settings.database_url) as session:
        eur = session.get(Store, api_shop["store"])
        usd = make_store(session, currency="USD", account_id=api_shop["account"])
        ingest.ingest_orders(
            session,
            eur,
            [order("a1", SENT + timedelta(days=4, hours=2), email="ann@example.com", total_price="80")],
        )
        ingest.ingest_orders(
            session,
            usd,
            [order("b1", SENT + timedelta(days=2), email="bob@example.com", total_price="15.5",
                   currency="USD"),
             order("b2", SENT + timedelta(days=20), email="bob@example.com", total_price="9", currency="USD",
                   financial_status="refunded")],
        )  # fmt: skip
    return ids


def test_the_campaign_list_pages_newest_first_with_the_results_of_each(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, five_campaigns: list[int]
) -> None:
    listed, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = _json(client.get(f"/api/v1/campaigns?{query}", headers=api_shop["headers"]))
        listed += page["campaigns"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [c["id"] for c in listed] == five_campaigns[::-1]
    for listed_one in listed:
        results = _json(
            client.get(f"/api/v1/campaigns/{listed_one['id']}/results", headers=api_shop["headers"])
        )
        assert {k: listed_one[k] for k in RESULT_FIELDS} == {k: results[k] for k in RESULT_FIELDS}
        assert (listed_one["external_id"], listed_one["channel"], listed_one["name"]) == (
            results["campaign"]["external_id"], "email", results["campaign"]["name"],
        )  # fmt: skip
        assert listed_one["created_at"] == results["campaign"]["created_at"]
    by_name = {c["name"]: c for c in listed}
    assert [by_name[f"News {n}"]["sends"] for n in range(5)] == [1, 2, 3, 1, 2]
    assert [(by_name[f"News {n}"]["opened"], by_name[f"News {n}"]["clicked"], by_name[f"News {n}"]["scanned"])
            for n in range(5)] == [(1, 0, 0), (0, 1, 0), (0, 0, 0), (1, 0, 0), (0, 0, 1)]  # fmt: skip
    # Ann's order, 4 days after the first news, is credited to each of her sends; Bob's refunded
    # order is his first after news 4: it counts as an order, not as revenue.
    assert by_name["News 4"]["ordered"] == 2
    assert by_name["News 4"]["revenue"] == [{"currency": "EUR", "amount": "80.00"}]
    assert by_name["News 1"]["revenue"] == [
        {"currency": "EUR", "amount": "80.00"},
        {"currency": "USD", "amount": "15.50"},
    ]
    assert by_name["News 1"]["by_status"]["sent"] == 2
    stranger = make_headers(settings)
    assert _json(client.get("/api/v1/campaigns", headers=stranger)) == {"campaigns": [], "next_cursor": None}
    for bad in ("cursor=nonsense", "limit=0", "limit=101"):
        answer = client.get(f"/api/v1/campaigns?{bad}", headers=api_shop["headers"])
        assert answer.status_code == 422, bad


def test_a_page_of_campaigns_takes_as_many_queries_whatever_its_size(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, five_campaigns: list[int]
) -> None:
    engine = get_engine(settings.database_url)
    statements: list[str] = []

    def count(*_: Any) -> None:
        statements.append("")

    def queries(limit: int) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = _json(client.get(f"/api/v1/campaigns?limit={limit}", headers=api_shop["headers"]))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(page["campaigns"]) == limit
        return len(statements)

    assert queries(1) == queries(5)


def test_a_campaigns_results_rank_its_orders_once_and_agree_with_the_profiles(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings, five_campaigns: list[int]
) -> None:
    days: dict[int, list[int]] = {c: [] for c in five_campaigns}
    for who in ("ann", "bob", "cy"):
        for send in _json(client.get(f"/api/v1/contacts/{api_shop[who]}", headers=api_shop["headers"]))[
            "campaigns"
        ]:
            if send["attribution"]:
                days[send["campaign"]["id"]].append(send["attribution"]["days"])
    engine = get_engine(settings.database_url)
    ranked: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "row_number()" in statement.lower():
            ranked.append(statement)

    medians = []
    for campaign_id in five_campaigns:
        ranked.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            results = _json(
                client.get(f"/api/v1/campaigns/{campaign_id}/results", headers=api_shop["headers"])
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len(ranked) == 1, "the orders after the sends are ranked in one query"
        assert results["ordered"] == len(days[campaign_id])
        assert results["median_days_to_order"] == statistics.median(days[campaign_id])
        medians.append(results["median_days_to_order"])
    # Orders in two currencies, odd and even counts, an order the day of the send.
    assert medians == [4, 2, 1, 1, 8]


def test_the_attribution_window_ends_exactly_its_days_after_the_send(
    client: FlaskClient, api_shop: dict[str, Any], settings: Settings
) -> None:
    sent = SENT + timedelta(microseconds=250_000)
    window = timedelta(days=30)
    campaign = _letter(client, api_shop)
    sends = [
        {"contact_id": api_shop[w], "status": "sent", "sent_at": sent.isoformat()}
        for w in ("ann", "bob", "cy")
    ]
    _json(client.post(f"/api/v1/campaigns/{campaign['id']}/sends", json=sends, headers=api_shop["headers"]))
    with session_scope(settings.database_url) as session:
        store = session.get(Store, api_shop["store"])
        ingest.ingest_orders(
            session,
            store,
            [
                order("last", sent + window - timedelta(microseconds=1), email="ann@example.com"),
                order("late", sent + window, email="bob@example.com"),
                order("early", sent - timedelta(microseconds=1), email="cy@example.com"),
            ],
        )
    credited = {
        who: _json(client.get(f"/api/v1/contacts/{api_shop[who]}", headers=api_shop["headers"]))["campaigns"][
            0
        ]["attribution"]
        for who in ("ann", "bob", "cy")
    }
    assert credited["ann"]["days"] == 29
    assert (credited["bob"], credited["cy"]) == (None, None)
    results = _json(client.get(f"/api/v1/campaigns/{campaign['id']}/results", headers=api_shop["headers"]))
    assert results["ordered"] == 1
    assert results["median_days_to_order"] == 29
