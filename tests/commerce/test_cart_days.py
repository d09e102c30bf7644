"""Carts day by day: each local day counts what the cart statistics count for it, clock changes too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from integration import ingest
from integration.commerce.cart_days import cart_days, day_start, item_titles
from integration.commerce.cart_stats import cart_stats
from integration.commerce.carts import mark_abandoned
from integration.store import session_scope
from integration.store.models import Checkout
from tests.support.builders import checkout, item, make_store, order

PRAGUE = ZoneInfo("Europe/Prague")


def test_days_follow_the_zone_across_a_clock_change_and_add_up_to_the_stats(db_url: str) -> None:
    # Prague moves to summer time on March 29, 2026 (a 23-hour day); abandonment comes 10 minutes
    # after the last change, so these are abandoned at 23:55 on the 28th, 00:05 and 23:55 on the
    # 29th, and 00:05 on the 30th, local time.
    moments = {
        "sat-late": datetime(2026, 3, 28, 22, 45, tzinfo=UTC),
        "sun-early": datetime(2026, 3, 28, 22, 55, tzinfo=UTC),
        "sun-late": datetime(2026, 3, 29, 21, 45, tzinfo=UTC),
        "mon-early": datetime(2026, 3, 29, 21, 55, tzinfo=UTC),
    }
    with session_scope(db_url) as session:
        store = make_store(session)
        ingest.ingest_checkouts(
            session,
            store,
            [checkout(token, at, email=f"{token}@example.com") for token, at in moments.items()],
        )
        mark_abandoned(session, now=datetime(2026, 4, 1, tzinfo=UTC))
        ingest.ingest_orders(
            session,
            store,
            [
                order(
                    "o1",
                    datetime(2026, 3, 30, 8, tzinfo=UTC),
                    email="sun-late@example.com",
                    checkout_token="sun-late",
                )
            ],
        )
        days = cart_days(session, store.account_id, date(2026, 3, 27), date(2026, 3, 31), PRAGUE)
        assert [(d["day"], d["abandoned"], d["recovered"]) for d in days] == [
            ("2026-03-27", 0, 0),
            ("2026-03-28", 1, 0),
            ("2026-03-29", 2, 1),
            ("2026-03-30", 1, 0),
            ("2026-03-31", 0, 0),
        ]
        for d in days:
            day = date.fromisoformat(d["day"])
            stats = cart_stats(
                session, store.account_id, day_start(day, PRAGUE), day_start(day + timedelta(days=1), PRAGUE)
            )
            assert (stats["abandoned"], stats["recovered"]) == (d["abandoned"], d["recovered"])
        assert cart_days(session, store.account_id, date(2026, 3, 2), date(2026, 3, 1), PRAGUE) == []


def test_item_titles_keep_the_first_items_in_order(db_url: str) -> None:
    with session_scope(db_url) as session:
        store = make_store(session)
        lines = [item("Scarf", product="a"), item("Hat", product="b"), item("Gloves", product="c")]
        ingest.ingest_checkouts(
            session, store, [checkout("t1", line_items=lines), checkout("t2", line_items=[])]
        )
        ids = dict(session.query(Checkout.token, Checkout.id).all())
        assert item_titles(session, [ids["t1"], ids["t2"]]) == {ids["t1"]: ["Scarf", "Hat"]}
        assert item_titles(session, []) == {}
