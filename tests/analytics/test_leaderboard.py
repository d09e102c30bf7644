"""The loyalty leaderboard: calendar periods in time zones, ties, stores, and what counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from integration import ingest
from integration.analytics.leaderboard import RankBy, leaderboard
from integration.analytics.period_spend import prune_spend, rebuild, refresh_spend
from integration.analytics.periods import TimeFrame, period_keys, period_of
from integration.store import session_scope
from integration.store.models import Account
from tests.support.builders import make_store, order

# Wednesday 1 April 2026, 10:00 in New York.
NOW = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frame", "start", "end", "key"),
    [
        (TimeFrame.LAST_WEEK, date(2026, 3, 23), date(2026, 3, 29), "w2026-13"),
        (TimeFrame.LAST_MONTH, date(2026, 3, 1), date(2026, 3, 31), "m2026-03"),
        (TimeFrame.MONTH_TO_DATE, date(2026, 4, 1), date(2026, 4, 1), "m2026-04"),
        (TimeFrame.LAST_QUARTER, date(2026, 1, 1), date(2026, 3, 31), "q2026-1"),
        (TimeFrame.QUARTER_TO_DATE, date(2026, 4, 1), date(2026, 4, 1), "q2026-2"),
        (TimeFrame.LAST_YEAR, date(2025, 1, 1), date(2025, 12, 31), "y2025"),
        (TimeFrame.YEAR_TO_DATE, date(2026, 1, 1), date(2026, 4, 1), "y2026"),
    ],
)
def test_time_frames_are_calendar_periods_with_weeks_from_monday(
    frame: TimeFrame, start: date, end: date, key: str
) -> None:
    period = period_of(frame, date(2026, 4, 1))
    assert (period.start, period.end, period.key) == (start, end, key)
    assert period_of(TimeFrame.LAST_WEEK, date(2026, 1, 1)).key == "w2025-52"  # ISO weeks across a year


def test_a_last_day_of_quarter_order_at_2330_local_belongs_to_that_quarter_in_the_stores_zone(
    db_url: str,
) -> None:
    with session_scope(db_url) as session:
        ny = make_store(session, "USD", time_zone="America/New_York")
        session.get(Account, ny.account_id).time_zone = "UTC"
        late = datetime(2026, 4, 1, 3, 30, tzinfo=UTC)  # 31 March, 23:30 in New York
        ingest.ingest_orders(session, ny, [order("q1-late", late, email="ann@example.com", currency="USD")])
        rebuild(session, ny.account_id, now=NOW)  # the periods kept as of NOW

        def emails(frame: TimeFrame, store_id: int | None) -> list[str]:
            board = leaderboard(
                session,
                ny.account_id,
                rank_by=RankBy.TOTAL_SPENT,
                time_frame=frame,
                store_id=store_id,
                now=NOW,
            )
            return [r["contact"]["email"] for r in board["rows"]]

        assert emails(TimeFrame.LAST_QUARTER, ny.id) == ["ann@example.com"]
        assert emails(TimeFrame.QUARTER_TO_DATE, ny.id) == []
        # Across the account (UTC) the same order is already in April.
        assert emails(TimeFrame.LAST_QUARTER, None) == []
        assert emails(TimeFrame.QUARTER_TO_DATE, None) == ["ann@example.com"]


def test_ties_share_a_rank_and_only_orders_that_count_are_counted(db_url: str) -> None:
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    with session_scope(db_url) as session:
        store = make_store(session, "EUR")
        ingest.ingest_orders(
            session,
            store,
            [
                order("a1", day, email="ann@example.com", total_price="100"),
                order("b1", day, email="bob@example.com", total_price="60"),
                order("b2", day, email="bob@example.com", total_price="40"),
                order("c1", day, email="cy@example.com", total_price="50"),
                order("c2", day, email="cy@example.com", total_price="500", financial_status="refunded"),
                order("d1", day, email="dee@example.com", total_price="900", cancelled_at=day),
                order("old", day - timedelta(days=60), email="dee@example.com", total_price="10"),
            ],
        )
        rebuild(session, store.account_id, now=NOW)
        board = leaderboard(
            session, store.account_id, rank_by=RankBy.TOTAL_SPENT, time_frame=TimeFrame.LAST_MONTH, now=NOW
        )
        rows = [(r["rank"], r["contact"]["email"], r["total_spent"], r["purchases"]) for r in board["rows"]]
        # Tied customers share the rank and are listed newest contact first (the index's order).
        assert rows == [
            (1, "bob@example.com", "100.00", 2),
            (1, "ann@example.com", "100.00", 1),
            (3, "cy@example.com", "50.00", 2),  # the refunded order is a purchase, not money spent
        ]
        by_purchases = leaderboard(
            session,
            store.account_id,
            rank_by=RankBy.PURCHASES,
            time_frame=TimeFrame.LAST_MONTH,
            now=NOW,
            limit=1,
        )
        # The limit shows one, and the customer tied with it.
        assert [(r["rank"], r["contact"]["email"]) for r in by_purchases["rows"]] == [
            (1, "cy@example.com"),
            (1, "bob@example.com"),
        ]
        by_average = leaderboard(
            session, store.account_id, rank_by=RankBy.AVERAGE_ORDER, time_frame=TimeFrame.LAST_MONTH, now=NOW
        )
        assert [(r["rank"], r["contact"]["email"], r["average_order"]) for r in by_average["rows"]] == [
            (1, "ann@example.com", "100.00"),
            (2, "cy@example.com", "50.00"),
            (2, "bob@example.com", "50.00"),
        ]


def test_a_customer_with_orders_in_two_stores_and_the_store_filter(db_url: str) -> None:
    day = datetime(2026, 2, 10, 12, tzinfo=UTC)
    with session_scope(db_url) as session:
        shop = make_store(session, "EUR")
        outlet = make_store(session, "EUR", account_id=shop.account_id)
        ingest.ingest_orders(
            session,
            shop,
            [
                order("s1", day, email="ann@example.com", total_price="30"),
                order("s2", day, email="bob@example.com", total_price="50"),
            ],
        )
        ingest.ingest_orders(session, outlet, [order("o1", day, email="ann@example.com", total_price="40")])

        def board(store_id: int | None) -> list[tuple[str, str]]:
            result = leaderboard(
                session,
                shop.account_id,
                rank_by=RankBy.TOTAL_SPENT,
                time_frame=TimeFrame.YEAR_TO_DATE,
                store_id=store_id,
                now=NOW,
            )
            return [(r["contact"]["email"], r["total_spent"]) for r in result["rows"]]

        assert board(None) == [("ann@example.com", "70.00"), ("bob@example.com", "50.00")]
        assert board(shop.id) == [("bob@example.com", "50.00"), ("ann@example.com", "30.00")]
        assert board(outlet.id) == [("ann@example.com", "40.00")]

        # A rebuild from the orders gives the same rows as the incremental upkeep.
        def rows() -> list[tuple]:
            from integration.store.models import ContactPeriodSpend as S

            return sorted(
                session.execute(
                    select(
                        S.store_id,
                        S.period,
                        S.currency,
                        S.contact_id,
                        S.purchases,
                        S.revenue,
                        S.average,
                        S.last_order_at,
                    )
                ).all()
            )

        from integration.store.models import Contact

        ids = session.scalars(select(Contact.id).where(Contact.account_id == shop.account_id)).all()
        refresh_spend(session, shop.account_id, ids, now=NOW)  # the incremental upkeep, as of NOW
        before = rows()
        # Per contact and scope (ann: account, shop, outlet; bob: account, shop): the first quarter
        # and the year; the week and the month of 10 February are no time frame's on 1 April.
        assert len(before) == 5 * 2
        assert rebuild(session, shop.account_id, now=NOW) == 2
        assert rows() == before
        assert board(None) == [("ann@example.com", "70.00"), ("bob@example.com", "50.00")]
        with pytest.raises(LookupError):
            leaderboard(
                session,
                shop.account_id,
                rank_by=RankBy.PURCHASES,
                time_frame=TimeFrame.LAST_YEAR,
                store_id=make_store(session).id,
            )


def test_the_leaderboard_endpoint(client: object, settings: object) -> None:
    from tests.support.builders import bearer

    url = settings.database_url  # type: ignore[attr-defined]
    with session_scope(url) as session:
        store = make_store(session, "EUR")
        headers = bearer(session, store.account_id)
        from integration.store.types import utcnow

        ingest.ingest_orders(
            session, store, [order("a1", utcnow(), email="ann@example.com", total_price="12")]
        )
    answer = client.get(  # type: ignore[attr-defined]
        "/api/v1/leaderboard?rank_by=purchases&time_frame=year_to_date", headers=headers
    ).get_json()
    assert [(r["rank"], r["contact"]["email"], r["purchases"]) for r in answer["rows"]] == [
        (1, "ann@example.com", 1)
    ]
    assert answer["currency"] == "EUR"
    assert answer["period"]["time_zone"] == "Europe/Prague"
    bad = client.get("/api/v1/leaderboard?time_frame=last_century", headers=headers)  # type: ignore[attr-defined]
    assert bad.status_code == 422
    other = client.get("/api/v1/leaderboard?store=999999", headers=headers)  # type: ignore[attr-defined]
    assert other.status_code == 404


def test_only_the_periods_a_time_frame_can_name_are_kept_and_the_rest_pruned(db_url: str) -> None:
    from zoneinfo import ZoneInfo

    from integration.store.models import ContactPeriodSpend
    from integration.store.types import utcnow

    now = utcnow()
    placed = now - timedelta(hours=1)
    with session_scope(db_url) as session:
        store = make_store(session, "EUR")  # account and store in Europe/Prague
        ingest.ingest_orders(
            session,
            store,
            [
                order("recent", placed, email="ann@example.com", total_price="20"),
                order("long-ago", now - timedelta(days=800), email="ann@example.com", total_price="30"),
            ],
        )
        kept = session.scalars(select(ContactPeriodSpend.period).distinct()).all()
        # This week, month, quarter and year of the recent order; the old one is in no kept period.
        assert sorted(kept) == sorted(period_keys(placed.astimezone(ZoneInfo("Europe/Prague")).date()))
        assert prune_spend(session, store.account_id, now=now) == 0
        # Two years on, none of them can be named any more.
        assert prune_spend(session, store.account_id, now=now + timedelta(days=800)) == 2 * 4
        assert session.scalars(select(ContactPeriodSpend.period)).all() == []


def test_the_default_currency_is_the_one_most_buyers_used_and_its_counts_follow_the_orders(
    db_url: str,
) -> None:
    from sqlalchemy import func

    from integration.ingest import ingest_orders
    from integration.ingest.removals import delete_orders
    from integration.store.models import ContactPeriodSpend as S
    from integration.store.models import PeriodCurrency as P
    from integration.store.types import utcnow

    # Ingestion keeps the periods a time frame can name today: the orders are a minute old.
    when = utcnow() - timedelta(minutes=1)
    now = when + timedelta(seconds=1)
    with session_scope(db_url) as session:
        shop = make_store(session, "EUR", time_zone="UTC")

        def counted() -> list[tuple[object, ...]]:
            return sorted(session.execute(select(P.store_id, P.period, P.currency, P.contacts)).all())

        def grouped() -> list[tuple[object, ...]]:
            return sorted(
                session.execute(
                    select(S.store_id, S.period, S.currency, func.count()).group_by(
                        S.store_id, S.period, S.currency
                    )
                ).all()
            )

        def top_currency() -> str:
            board = leaderboard(
                session,
                shop.account_id,
                rank_by=RankBy.TOTAL_SPENT,
                time_frame=TimeFrame.YEAR_TO_DATE,
                now=now,
            )
            return str(board["currency"])

        # Two buyers in USD (one with two orders), one in EUR: USD has more buyers.
        ingest_orders(
            session,
            shop,
            [
                order("1", when, email="a@example.com", currency="USD", total_price="5"),
                order("2", when, email="a@example.com", currency="USD", total_price="5"),
                order("3", when, email="b@example.com", currency="USD", total_price="5"),
                order("4", when, email="c@example.com", currency="EUR", total_price="500"),
            ],
        )
        assert counted() == grouped()
        assert counted()
        assert top_currency() == "USD"
        # One USD buyer's order is deleted and two more pay in EUR: now EUR has more buyers.
        delete_orders(session, shop, ["3"], when)
        ingest_orders(
            session,
            shop,
            [
                order("5", when, email="d@example.com", currency="EUR", total_price="1"),
                order("6", when, email="e@example.com", currency="EUR", total_price="1"),
            ],
        )
        assert counted() == grouped()
        assert top_currency() == "EUR"
        assert rebuild(session, shop.account_id) == 4
        assert counted() == grouped()


def test_refunds_come_off_the_total_spent_in_the_upkeep_and_in_a_rebuild(db_url: str) -> None:
    from decimal import Decimal

    from integration.contract import RefundRecord

    day = datetime(2026, 2, 10, 12, tzinfo=UTC)
    with session_scope(db_url) as session:
        shop = make_store(session, "EUR")
        # Refund r2 arrives before its order s2; r1 after its order s1.
        ingest.ingest_refunds(session, shop, [RefundRecord("r2", "s2", Decimal("45"), "EUR", day)])
        ingest.ingest_orders(
            session,
            shop,
            [
                order("s1", day, email="ann@example.com", total_price="30"),
                order("s2", day, email="bob@example.com", total_price="50"),
            ],
        )
        ingest.ingest_refunds(session, shop, [RefundRecord("r1", "s1", Decimal("10"), "EUR", day)])

        def board() -> list[tuple[str, str, str]]:
            result = leaderboard(
                session,
                shop.account_id,
                rank_by=RankBy.TOTAL_SPENT,
                time_frame=TimeFrame.YEAR_TO_DATE,
                now=NOW,
            )
            return [(r["contact"]["email"], r["total_spent"], r["average_order"]) for r in result["rows"]]

        expected = [("ann@example.com", "20.00", "20.00"), ("bob@example.com", "5.00", "5.00")]
        assert board() == expected
        assert rebuild(session, shop.account_id, now=NOW) == 2
        assert board() == expected
