"""`GET /api/v1/orders`: a period's orders, guest orders included, filtered and a page at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from integration import ingest
from integration.settings import Settings
from integration.store import session_scope
from tests.support.builders import NOW, bearer, item, make_store, order


@pytest.fixture
def orders_shop(settings: Settings) -> dict[str, Any]:
    """On June 15 (Prague): a guest order, a paid one, a cancelled one, a refunded one in a USD store
    of the account; one a month earlier; and an order of another account."""
    with session_scope(settings.database_url) as session:
        store = make_store(session, time_zone="Europe/Prague")
        usd = make_store(session, currency="USD", account_id=store.account_id, time_zone="America/New_York")
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    "guest",
                    NOW,
                    name="#1001",
                    line_items=[item(), item("Socks", "7.90", product="p2")],
                    financial_status="paid",
                ),
                order(
                    "ann",
                    NOW + timedelta(hours=1),
                    email="ann@example.com",
                    name="#1002",
                    financial_status="paid",
                ),
                order(
                    "gone",
                    NOW + timedelta(hours=2),
                    email="bob@example.com",
                    financial_status="voided",
                    cancelled_at=NOW + timedelta(hours=3),
                ),
                order("old", NOW - timedelta(days=30), email="ann@example.com", financial_status="paid"),
            ],
        )
        ingest.ingest_orders(
            session,
            usd,
            [
                order(
                    "refunded",
                    NOW + timedelta(hours=3),
                    customer_id="c1",
                    email="cy@example.com",
                    currency="USD",
                    financial_status="refunded",
                )
            ],
        )
        stranger = make_store(session)
        ingest.ingest_orders(session, stranger, [order("theirs", NOW, financial_status="paid")])
        return {
            "headers": bearer(session, store.account_id),
            "store": store.id,
            "usd": usd.id,
            "stranger": stranger.id,
            "stranger_headers": bearer(session, stranger.account_id),
        }


def _orders(
    client: FlaskClient, headers: dict[str, str], query: str = "from=2026-06-15&to=2026-06-15"
) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        answer = client.get(f"/api/v1/orders?{query}{suffix}", headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        found += body["orders"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def test_the_order_list_shows_guest_orders_with_their_store_total_status_and_lines(
    client: FlaskClient, orders_shop: dict[str, Any]
) -> None:
    headers = orders_shop["headers"]
    orders = {o["external_id"]: o for o in _orders(client, headers)}
    assert list(orders) == ["refunded", "gone", "ann", "guest"]  # newest first
    guest = orders["guest"]
    assert (guest["contact"], guest["email"], guest["guest"]) == (None, None, True)
    assert (guest["name"], guest["store_id"], guest["line_items"]) == ("#1001", orders_shop["store"], 2)
    assert (guest["total_price"], guest["currency"], guest["status"]) == ("37.80", "EUR", "paid")
    assert guest["created_at"] == NOW.isoformat()
    assert guest["created_at_local"] == "2026-06-15T14:00:00+02:00"
    ann = orders["ann"]
    assert (ann["guest"], ann["contact"]["email"]) == (False, "ann@example.com")
    assert isinstance(ann["contact"]["id"], int)
    gone = orders["gone"]
    assert (gone["status"], gone["financial_status"]) == ("cancelled", "voided")
    assert gone["cancelled_at"] == (NOW + timedelta(hours=3)).isoformat()
    refunded = orders["refunded"]
    assert (refunded["status"], refunded["currency"], refunded["store_id"]) == (
        "refunded",
        "USD",
        orders_shop["usd"],
    )
    assert refunded["created_at_local"] == "2026-06-15T11:00:00-04:00"
    # The summary counts the guest order in the orders and in revenue like any other.
    summary = client.get("/api/v1/summary", headers=headers).get_json()["orders"]
    assert summary["total"] == 5
    assert {"currency": "EUR", "orders": 3, "amount": "97.60"} in summary["revenue"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("guest=true", ["guest"]),
        ("guest=false", ["refunded", "gone", "ann"]),
        ("status=paid", ["ann", "guest"]),
        ("status=cancelled", ["gone"]),
        ("status=refunded", ["refunded"]),
        ("status=unknown", []),
        ("status=paid&guest=false", ["ann"]),
        ("limit=1", ["refunded", "gone", "ann", "guest"]),
        # A time with its zone is exclusive at the end: NOW + 1 h is left out.
        ("from=2026-06-15T12:00:00Z&to=2026-06-15T13:00:00Z", ["guest"]),
    ],
)
def test_the_order_list_filters_by_guest_status_and_period_and_pages(
    client: FlaskClient, orders_shop: dict[str, Any], query: str, expected: list[str]
) -> None:
    period = "" if "from=" in query else "from=2026-06-15&to=2026-06-15&"
    found = _orders(client, orders_shop["headers"], period + query)
    assert [o["external_id"] for o in found] == expected


def test_the_order_list_by_store_and_period(client: FlaskClient, orders_shop: dict[str, Any]) -> None:
    headers = orders_shop["headers"]
    in_usd = _orders(client, headers, f"from=2026-06-15&to=2026-06-15&store={orders_shop['usd']}")
    assert [o["external_id"] for o in in_usd] == ["refunded"]
    may = _orders(client, headers, "from=2026-05-01&to=2026-05-31")
    assert [o["external_id"] for o in may] == ["old"]
    # By default the last 30 days: June 2026 is older than that today.
    assert client.get("/api/v1/orders", headers=headers).get_json() == {"orders": [], "next_cursor": None}


def test_another_accounts_key_sees_none_of_the_orders(
    client: FlaskClient, orders_shop: dict[str, Any]
) -> None:
    theirs = _orders(client, orders_shop["stranger_headers"])
    assert [o["external_id"] for o in theirs] == ["theirs"]
    for headers, store in (
        (orders_shop["stranger_headers"], orders_shop["store"]),
        (orders_shop["headers"], orders_shop["stranger"]),
    ):
        assert client.get(f"/api/v1/orders?store={store}", headers=headers).status_code == 404
    assert client.get("/api/v1/orders").status_code == 401


@pytest.mark.parametrize(
    "bad",
    ["colour=red", "limit=0", "limit=501", "cursor=nonsense", "from=yesterday", "guest=maybe", "status="],
)
def test_the_order_list_refuses_what_it_cannot_read(
    client: FlaskClient, orders_shop: dict[str, Any], bad: str
) -> None:
    assert client.get(f"/api/v1/orders?{bad}", headers=orders_shop["headers"]).status_code == 422
