"""Abandoned and recovered carts: the delay, the token and product rules, windows, events, stats."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import ingest
from integration.commerce.cart_stats import cart_stats
from integration.commerce.carts import mark_abandoned
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Checkout, CheckoutState, Contact, InteractionEvent, InteractionType
from tests.support.builders import NOW, bearer, checkout, item, make_store, order

SCARF = item("Wool scarf", "40.00", product="scarf")
HAT = item("Wool hat", "25.00", product="hat")


def _states(session: object) -> dict[str, tuple[CheckoutState, str | None]]:
    return {c.token: (c.state, c.recovery_rule) for c in session.scalars(select(Checkout))}  # type: ignore[attr-defined]


def test_a_tokenless_order_inside_the_delay_completes_the_checkout_instead_of_abandoning_it(
    db_url: str,
) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_checkouts(session, store, [checkout("t1", email="ann@example.com", line_items=[SCARF])])
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(minutes=5), email="ann@example.com", line_items=[SCARF])],
        )
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, "product")}
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 0


def test_a_tokenless_order_stored_before_its_checkout_completes_it_at_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        # The order arrives first (deliveries come out of order), its checkout after it.
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(minutes=5), email="ann@example.com", line_items=[SCARF])],
        )
        ingest.ingest_checkouts(session, store, [checkout("t1", email="ann@example.com", line_items=[SCARF])])
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, "product")}
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 0


def test_the_product_rule_recovers_inside_the_window_and_not_outside(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_checkouts(
            session,
            store,
            [
                checkout("inside", email="ann@example.com", line_items=[SCARF, HAT]),
                checkout("outside", email="bob@example.com", line_items=[SCARF]),
                checkout("other-product", email="cy@example.com", line_items=[HAT]),
            ],
        )
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 3
        # Abandoned at NOW + 10 min; the window is 7 days from then.
        ingest.ingest_orders(
            session,
            store,
            [
                order("a", NOW + timedelta(days=7), email="ann@example.com", line_items=[HAT]),
                order("b", NOW + timedelta(days=7, minutes=11), email="bob@example.com", line_items=[SCARF]),
                order("c", NOW + timedelta(days=1), email="cy@example.com", line_items=[SCARF]),
            ],
        )
        assert _states(session) == {
            "inside": (CheckoutState.RECOVERED, "product"),
            "outside": (CheckoutState.ABANDONED, None),
            "other-product": (CheckoutState.ABANDONED, None),
        }


def test_an_order_with_a_token_never_recovers_by_product(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_checkouts(session, store, [checkout("t1", email="ann@example.com", line_items=[SCARF])])
        mark_abandoned(session, now=NOW + timedelta(hours=1))
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    "o1",
                    NOW + timedelta(days=1),
                    email="ann@example.com",
                    checkout_token="t9",
                    line_items=[SCARF],
                )
            ],
        )
        assert _states(session) == {"t1": (CheckoutState.ABANDONED, None)}


def test_two_carts_abandoned_on_two_devices_and_one_order_make_one_recovery(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_checkouts(
            session,
            store,
            [
                checkout("phone", NOW, email="ann@example.com", line_items=[SCARF]),
                checkout("laptop", NOW + timedelta(minutes=30), email="ann@example.com", line_items=[SCARF]),
            ],
        )
        mark_abandoned(session, now=NOW + timedelta(hours=2))
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(days=1), email="ann@example.com", line_items=[SCARF])],
        )
        # The most recent cart is the one recovered; the other stays abandoned.
        assert _states(session) == {
            "phone": (CheckoutState.ABANDONED, None),
            "laptop": (CheckoutState.RECOVERED, "product"),
        }
        stats = cart_stats(session, store.account_id, NOW - timedelta(days=1), NOW + timedelta(days=1))
        assert (stats["abandoned"], stats["recovered"], stats["recovery_rate"]) == (2, 1, 50.0)
        assert stats["recovered_revenue"] == [{"currency": "EUR", "amount": "40.00", "orders": 1}]


def test_the_cart_token_recovers_and_the_same_checkout_delivered_twice_changes_nothing(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        cart = checkout("t1", email="ann@example.com", cart_token="cart-1", line_items=[SCARF])
        ingest.ingest_checkouts(session, store, [cart])
        assert ingest.ingest_checkouts(session, store, [cart]).written == 0
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 1
        assert mark_abandoned(session, now=NOW + timedelta(hours=2)) == 0
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(days=2), email="ann@example.com", cart_token="cart-1")],
        )
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    "o1",
                    NOW + timedelta(days=2),
                    NOW + timedelta(days=3),
                    email="ann@example.com",
                    cart_token="cart-1",
                )
            ],
        )
        assert _states(session) == {"t1": (CheckoutState.RECOVERED, "cart_token")}
        events = session.scalars(select(InteractionEvent.type).order_by(InteractionEvent.occurred_at)).all()
        assert events == [InteractionType.CART_ABANDONED, InteractionType.CART_RECOVERED]
        assert session.scalars(select(InteractionEvent.counted)).all() == [False, False]


def test_a_checkout_arriving_after_its_order_is_settled_at_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(minutes=3), email="ann@example.com", checkout_token="t1")],
        )
        ingest.ingest_checkouts(session, store, [checkout("t1", email="ann@example.com")])
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, "checkout_token")}
        assert mark_abandoned(session, now=NOW + timedelta(days=1)) == 0


def test_cart_stats_follow_the_period_the_store_and_revenue_rules(db_url: str) -> None:
    with session_scope(db_url) as session:
        eur = make_store(session)
        usd = make_store(session, currency="USD", account_id=eur.account_id)
        for store, currency in ((eur, "EUR"), (usd, "USD")):
            ingest.ingest_checkouts(
                session,
                store,
                [
                    checkout(f"{currency}-1", email="ann@example.com", currency=currency),
                    checkout(
                        f"{currency}-2", NOW + timedelta(days=10), email="bob@example.com", currency=currency
                    ),
                ],
            )
        mark_abandoned(session, now=NOW + timedelta(days=11))
        ingest.ingest_orders(
            session,
            eur,
            [order("e1", NOW + timedelta(days=1), email="ann@example.com", checkout_token="EUR-1")],
        )
        ingest.ingest_orders(
            session,
            usd,
            [
                order(
                    "u1",
                    NOW + timedelta(days=1),
                    email="ann@example.com",
                    checkout_token="USD-1",
                    currency="USD",
                    financial_status="refunded",
                )
            ],
        )
        first_week = cart_stats(session, eur.account_id, NOW, NOW + timedelta(days=7))
        assert (first_week["abandoned"], first_week["recovered"]) == (2, 2)
        # The refunded USD order recovered its cart but is no revenue.
        assert first_week["recovered_revenue"] == [{"currency": "EUR", "amount": "29.90", "orders": 1}]
        only_usd = cart_stats(session, eur.account_id, NOW, NOW + timedelta(days=30), store_id=usd.id)
        assert (only_usd["abandoned"], only_usd["recovered"], only_usd["recovery_rate"]) == (2, 1, 50.0)
        empty = cart_stats(session, eur.account_id, NOW + timedelta(days=100), NOW + timedelta(days=101))
        assert (empty["abandoned"], empty["recovery_rate"], empty["recovered_revenue"]) == (0, None, [])
        assert Decimal(first_week["recovered_revenue"][0]["amount"]) == Decimal("29.90")


def test_the_cart_stats_endpoint_reads_days_in_the_accounts_time_zone(
    client: object, settings: object
) -> None:
    from tests.support.builders import bearer

    url = settings.database_url  # type: ignore[attr-defined]
    with session_scope(url) as session:
        store = make_store(session)  # the account is in Europe/Prague (UTC+2 in June)
        ingest.ingest_checkouts(
            session,
            store,
            [
                # Abandoned at 22:10 UTC on June 15: 00:10 on June 16 in Prague.
                checkout("late", NOW + timedelta(hours=10), email="ann@example.com"),
                checkout("early", NOW, email="bob@example.com"),
            ],
        )
        mark_abandoned(session, now=NOW + timedelta(days=1))
        headers = bearer(session, store.account_id)
        other_store = make_store(session).id
    june_15 = client.get("/api/v1/carts/stats?from=2026-06-15&to=2026-06-15", headers=headers)  # type: ignore[attr-defined]
    assert june_15.status_code == 200
    body = june_15.get_json()
    assert (body["abandoned"], body["recovered"], body["time_zone"]) == (1, 0, "Europe/Prague")
    june_16 = client.get("/api/v1/carts/stats?from=2026-06-16&to=2026-06-16", headers=headers).get_json()  # type: ignore[attr-defined]
    assert june_16["abandoned"] == 1
    assert client.get(f"/api/v1/carts/stats?store={other_store}", headers=headers).status_code == 404  # type: ignore[attr-defined]
    bad = client.get("/api/v1/carts/stats?from=yesterday", headers=headers)  # type: ignore[attr-defined]
    assert bad.status_code == 422
    assert "from" in str(bad.get_json())


# ---- the list of carts -----------------------------------------------------------------------------


@pytest.fixture
def carts_shop(settings: Settings) -> dict[str, Any]:
    """Carts abandoned on June 15 (Prague): recovered by each rule, one still abandoned, one in
    another store of the account; and one abandoned a month earlier."""
    with session_scope(settings.database_url) as session:
        store = make_store(session, time_zone="Europe/Prague")
        other = make_store(session, currency="USD", account_id=store.account_id)
        two = [SCARF, item("Wool hat", "25.00", quantity=2, product="hat")]
        ingest.ingest_checkouts(
            session,
            store,
            [
                checkout("by-token", NOW, email="ann@example.com", line_items=two, total_price="90.00"),
                checkout("by-cart", NOW + timedelta(minutes=1), email="bob@example.com", cart_token="k1"),
                checkout("by-product", NOW + timedelta(minutes=2), email="cy@example.com", line_items=[HAT]),
                checkout(
                    "left", NOW + timedelta(minutes=3), email="dan@example.com", recovery_url="https://r/1"
                ),
                checkout("old", NOW - timedelta(days=30), email="eve@example.com"),
            ],
        )
        ingest.ingest_checkouts(
            session, other, [checkout("elsewhere", NOW, email="ann@example.com", currency="USD")]
        )
        mark_abandoned(session, now=NOW + timedelta(hours=1))
        later = NOW + timedelta(days=1)
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    "o-token",
                    later,
                    email="ann@example.com",
                    checkout_token="by-token",
                    name="#1001",
                    total_price="92.50",
                ),
                order("o-cart", later, email="bob@example.com", cart_token="k1", name="#1002"),
                order("o-product", later, email="cy@example.com", line_items=[HAT], name="#1003"),
            ],
        )
        return {
            "headers": bearer(session, store.account_id),
            "store": store.id,
            "other": other.id,
            "stranger": make_store(session).id,
        }


def _carts(client: FlaskClient, shop: dict[str, Any], query: str = "") -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        answer = client.get(
            f"/api/v1/carts?from=2026-06-15&to=2026-06-15&{query}{suffix}", headers=shop["headers"]
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        found += body["carts"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def test_the_cart_list_shows_each_cart_with_the_order_and_rule_that_recovered_it(
    client: FlaskClient, carts_shop: dict[str, Any]
) -> None:
    carts = {c["token"]: c for c in _carts(client, carts_shop)}
    assert set(carts) == {"by-token", "by-cart", "by-product", "left", "elsewhere"}
    rules = {
        token: (c["state"], c["recovery_rule"], (c["recovered_by"] or {}).get("name"))
        for token, c in carts.items()
    }
    assert rules == {
        "by-token": ("recovered", "checkout_token", "#1001"),
        "by-cart": ("recovered", "cart_token", "#1002"),
        "by-product": ("recovered", "product", "#1003"),
        "left": ("abandoned", None, None),
        "elsewhere": ("abandoned", None, None),
    }
    ann = carts["by-token"]
    assert ann["contact"]["email"] == "ann@example.com"
    assert (ann["total_price"], ann["currency"], ann["items_count"], ann["quantity"]) == (
        "90.00",
        "EUR",
        2,
        3,
    )
    assert ann["abandoned_at"] == (NOW + timedelta(minutes=10)).isoformat()
    assert ann["abandoned_at_local"].endswith("+02:00")
    assert ann["recovered_at"] == (NOW + timedelta(days=1)).isoformat()
    assert (ann["recovered_by"]["total_price"], ann["recovered_by"]["external_id"]) == ("92.50", "o-token")
    assert carts["left"]["recovery_url"] == "https://r/1"
    assert carts["elsewhere"]["store_id"] == carts_shop["other"]
    # Newest abandonment first, a page at a time, the same carts the statistics count.
    paged = _carts(client, carts_shop, "limit=2")
    assert [c["token"] for c in paged] == ["left", "by-product", "by-cart", "elsewhere", "by-token"]
    stats = client.get(
        "/api/v1/carts/stats?from=2026-06-15&to=2026-06-15", headers=carts_shop["headers"]
    ).get_json()
    recovered = _carts(client, carts_shop, "state=recovered")
    assert (stats["abandoned"], stats["recovered"]) == (len(paged), len(recovered)) == (5, 3)
    assert [c["token"] for c in _carts(client, carts_shop, "state=abandoned")] == ["left", "elsewhere"]
    assert [c["token"] for c in _carts(client, carts_shop, f"store={carts_shop['other']}")] == ["elsewhere"]


def test_the_cart_list_refuses_what_it_cannot_read(client: FlaskClient, carts_shop: dict[str, Any]) -> None:
    headers = carts_shop["headers"]
    assert client.get(f"/api/v1/carts?store={carts_shop['stranger']}", headers=headers).status_code == 404
    for bad in ("state=open", "limit=0", "limit=501", "cursor=nonsense", "from=yesterday"):
        assert client.get(f"/api/v1/carts?{bad}", headers=headers).status_code == 422, bad
    # By default the last 30 days: the carts of June 15 are older than that today.
    assert client.get("/api/v1/carts", headers=headers).get_json() == {"carts": [], "next_cursor": None}


def test_the_profile_shows_the_cart_an_order_recovered_and_the_rule(
    client: FlaskClient, carts_shop: dict[str, Any], settings: Settings
) -> None:
    with session_scope(settings.database_url) as session:
        contacts = dict(session.execute(select(Contact.email, Contact.id)).all())
    expected = {
        "ann": ("by-token", "checkout_token"),
        "bob": ("by-cart", "cart_token"),
        "cy": ("by-product", "product"),
    }
    for email, (token, rule) in expected.items():
        profile = client.get(
            f"/api/v1/contacts/{contacts[f'{email}@example.com']}", headers=carts_shop["headers"]
        )
        [placed] = profile.get_json()["orders"]
        assert placed["badges"] == ["recovered_cart"]
        cart = placed["recovered_cart"]
        assert (cart["token"], cart["recovery_rule"]) == (token, rule)
        assert cart["recovered_at"] == (NOW + timedelta(days=1)).isoformat()
    dan = client.get(
        f"/api/v1/contacts/{contacts['dan@example.com']}", headers=carts_shop["headers"]
    ).get_json()
    assert dan["abandoned_carts"][0]["token"] == "left"


# ---- the timeline: which order completes, recovers or leaves a cart, whatever arrives first --------

ARRIVALS = {
    "checkout, abandonment, order": ("checkout", "abandon", "order", "abandon"),
    "checkout, order, abandonment": ("checkout", "order", "abandon"),
    "order, checkout, abandonment": ("order", "checkout", "abandon"),
}


@pytest.mark.parametrize("arrival", list(ARRIVALS))
@pytest.mark.parametrize("rule", ["checkout_token", "product"])
@pytest.mark.parametrize(
    ("placed_after", "expected"),
    [
        (timedelta(days=-1), CheckoutState.ABANDONED),  # older than the checkout itself
        (timedelta(minutes=5), CheckoutState.COMPLETED),  # before the abandonment (NOW + 10 min)
        (timedelta(days=1), CheckoutState.RECOVERED),  # after it, within the 7-day window
        (timedelta(days=8), CheckoutState.ABANDONED),  # after the window
    ],
)
def test_the_order_time_decides_completed_recovered_or_abandoned_whatever_arrives_first(
    db_url: str, arrival: str, rule: str, placed_after: timedelta, expected: CheckoutState
) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        token = {"checkout_token": "t1"} if rule == "checkout_token" else {}
        placed = NOW + placed_after
        for step in ARRIVALS[arrival]:
            if step == "checkout":
                ingest.ingest_checkouts(
                    session, store, [checkout("t1", email="ann@example.com", line_items=[SCARF])]
                )
            elif step == "order":
                ingest.ingest_orders(
                    session,
                    store,
                    [order("o1", placed, email="ann@example.com", line_items=[SCARF], **token)],
                )
            else:
                mark_abandoned(session, now=NOW + timedelta(days=30))
        [cart] = session.scalars(select(Checkout)).all()
        assert cart.state == expected
        abandoned = expected in (CheckoutState.ABANDONED, CheckoutState.RECOVERED)
        assert cart.abandoned_at == (NOW + timedelta(minutes=10) if abandoned else None)
        if expected == CheckoutState.RECOVERED:
            assert (cart.recovered_at, cart.recovery_rule) == (placed, rule)
            assert cart.recovered_at > cart.abandoned_at  # type: ignore[operator]
        else:
            assert cart.recovered_at is None
        if expected == CheckoutState.COMPLETED:
            assert cart.completed_at == placed
        events = session.scalars(select(InteractionEvent.type).order_by(InteractionEvent.occurred_at)).all()
        assert (
            events
            == [InteractionType.CART_ABANDONED, InteractionType.CART_RECOVERED][
                : (expected == CheckoutState.RECOVERED) + abandoned
            ]
        )
        stats = cart_stats(session, store.account_id, NOW - timedelta(days=1), NOW + timedelta(days=1))
        assert (stats["abandoned"], stats["recovered"]) == (
            int(abandoned),
            int(expected == CheckoutState.RECOVERED),
        )
