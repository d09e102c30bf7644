"""Abandoned and recovered carts: the delay, the token and product rules, windows, events, stats."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from integration import ingest
from integration.carts import cart_stats, mark_abandoned
from integration.store import session_scope
from integration.store.models import Checkout, CheckoutState, InteractionEvent, InteractionType
from tests.factories import NOW, checkout, item, make_store, order

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
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, None)}
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 0


def test_a_tokenless_order_found_when_the_delay_passes_completes_the_checkout(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        # The order arrives first (deliveries come out of order), its checkout after it.
        ingest.ingest_orders(
            session,
            store,
            [order("o1", NOW + timedelta(minutes=5), email="ann@example.com", line_items=[SCARF])],
        )
        ingest.ingest_checkouts(session, store, [checkout("t1", email="ann@example.com", line_items=[SCARF])])
        assert mark_abandoned(session, now=NOW + timedelta(hours=1)) == 1
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, None)}


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
        assert _states(session) == {"t1": (CheckoutState.COMPLETED, None)}
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
    from tests.factories import bearer

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
