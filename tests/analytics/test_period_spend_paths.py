"""The leaderboard's period rows kept in SQL (PostgreSQL) agree with the same rows worked out in Python.

On PostgreSQL `refresh_spend` computes the rows where the orders are and writes only the rows that
differ; elsewhere they are computed in Python and written anew. Orders in every state, in stores
and an account in time zones far apart, placed around midnights and period ends, then changed
(cancelled, voided, refunded, moved to another buyer), must leave the same rows and the same
contacts-per-currency counts whichever path kept them.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, literal_column, select

from integration import ingest
from integration.analytics import period_spend
from integration.analytics.periods import kept_periods
from integration.contract import RefundRecord
from integration.store import session_scope
from integration.store.models import Account, Contact, ContactPeriodSpend, PeriodCurrency
from tests.support.builders import make_store, order

# Monday 4 January 2027, 00:30 UTC: still Sunday 3 January in the Americas, an ISO week that
# belongs to 2026 (w2026-53) in some zones and a new year's first week in others.
NOW = datetime(2027, 1, 4, 0, 30, tzinfo=UTC)
ZONES = (
    "UTC",
    "America/New_York",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
    "Asia/Kathmandu",
    "Europe/Warsaw",
)
EMAILS = ("ann@example.com", "bob@example.com", "cat@example.com")
STATUSES = (None, "paid", "pending", "partially_refunded", "refunded", "voided")
serial = itertools.count()

# An order's time: whole days back from NOW (most in the periods NOW keeps, some beyond the
# horizon), then a minute of that day, weighted towards the hours around midnight UTC, where zones
# disagree about the date.
when = st.builds(
    lambda days, minutes: NOW - timedelta(days=days, minutes=minutes),
    st.one_of(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=800)),
    st.one_of(st.integers(min_value=-120, max_value=120), st.integers(min_value=0, max_value=1439)),
)
placed = st.fixed_dictionaries(
    {
        "store": st.integers(min_value=0, max_value=1),
        "created": when,
        "email": st.sampled_from(EMAILS),
        "currency": st.sampled_from(("EUR", "PLN")),
        "total": st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
        "status": st.sampled_from(STATUSES),
        "cancelled": st.sampled_from((False, False, False, True)),
    }
)
# What happens to an order afterwards: nothing, a newer version (another buyer, state or total), a refund.
later = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "email": st.sampled_from(EMAILS),
            "status": st.sampled_from(STATUSES),
            "cancelled": st.sampled_from((False, False, False, True)),
            "total": st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
        }
    ),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50.00"), places=2).map(lambda r: ("refund", r)),
)


def _record(external_id: str, seen: dict[str, Any], updated: datetime) -> Any:
    return order(
        external_id,
        seen["created"],
        updated,
        email=seen["email"],
        currency=seen["currency"],
        total_price=seen["total"],
        financial_status=seen["status"],
        cancelled_at=seen["created"] + timedelta(hours=1) if seen["cancelled"] else None,
    )


def _rows(session: Any, account_id: int) -> tuple[list[tuple], list[tuple]]:
    spend = session.execute(
        select(
            ContactPeriodSpend.store_id,
            ContactPeriodSpend.period,
            ContactPeriodSpend.currency,
            ContactPeriodSpend.contact_id,
            ContactPeriodSpend.purchases,
            ContactPeriodSpend.revenue_orders,
            ContactPeriodSpend.revenue,
            ContactPeriodSpend.average,
            ContactPeriodSpend.last_order_at,
        ).where(ContactPeriodSpend.account_id == account_id)
    ).all()
    counts = session.execute(
        select(
            PeriodCurrency.store_id, PeriodCurrency.period, PeriodCurrency.currency, PeriodCurrency.contacts
        ).where(PeriodCurrency.account_id == account_id)
    ).all()
    return sorted(tuple(r) for r in spend), sorted(tuple(r) for r in counts)


@pytest.mark.slow
def test_rows_kept_in_sql_equal_the_rows_worked_out_in_python(postgres_url: str) -> None:
    # Rows where some orders earned nothing (refunded) and rows whose average is a rounded one: the
    # examples must reach them for the comparison to mean something.
    reached = {"refunded": 0, "rounded": 0}

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        zones=st.tuples(*(st.sampled_from(ZONES),) * 3),
        orders=st.lists(st.tuples(placed, later), min_size=1, max_size=12),
    )
    def agree(zones: tuple[str, str, str], orders: list[tuple[dict[str, Any], Any]]) -> None:
        with session_scope(postgres_url) as session:
            first = make_store(session, "EUR", time_zone=zones[1])
            account = session.get(Account, first.account_id)
            account.time_zone = zones[0]
            stores = (first, make_store(session, "PLN", account_id=account.id, time_zone=zones[2]))
            names = [f"o{next(serial)}" for _ in orders]
            # Each batch is kept by the SQL path as of the real clock: rows of periods that NOW
            # does not keep may be left, and the refresh as of NOW below must delete them.
            for store_index in (0, 1):
                batch = [
                    _record(name, seen, seen["created"])
                    for name, (seen, _) in zip(names, orders, strict=True)
                    if seen["store"] == store_index
                ]
                ingest.ingest_orders(session, stores[store_index], batch)
            for name, (seen, then) in zip(names, orders, strict=True):
                store = stores[seen["store"]]
                if isinstance(then, tuple):
                    refund = RefundRecord(f"r-{name}", name, then[1], seen["currency"], seen["created"])
                    ingest.ingest_refunds(session, store, [refund])
                elif then is not None:
                    newer = _record(name, {**seen, **then}, seen["created"] + timedelta(days=1))
                    ingest.ingest_orders(session, store, [newer])
            contacts = list(session.scalars(select(Contact.id).where(Contact.account_id == account.id)))
            # The periods kept 45 days before NOW (what the real clock left is set right), then as
            # of NOW: weeks, a month and maybe a quarter change, their rows deleted and inserted.
            period_spend.refresh_spend(session, account.id, contacts, now=NOW - timedelta(days=45))
            period_spend.refresh_spend(session, account.id, contacts, now=NOW)
            in_sql = _rows(session, account.id)

            session.execute(delete(ContactPeriodSpend).where(ContactPeriodSpend.account_id == account.id))
            session.execute(delete(PeriodCurrency).where(PeriodCurrency.account_id == account.id))
            zones_of = period_spend._zones(session, account)
            kept = kept_periods(zones_of.values(), NOW)
            period_spend._refresh_in_python(session, account.id, sorted(contacts), zones_of, kept, NOW)
            in_python = _rows(session, account.id)
            assert in_sql == in_python
            # Counted from the rows themselves, too (the counts were changed by differences only).
            counted: dict[tuple, int] = {}
            for row in in_sql[0]:
                counted[row[:3]] = counted.get(row[:3], 0) + 1
            assert sorted((*k, n) for k, n in counted.items()) == in_sql[1]
            for row in in_sql[0]:
                purchases, revenue_orders, revenue, average = row[4:8]
                reached["refunded"] += 0 < revenue_orders < purchases
                reached["rounded"] += bool(revenue_orders) and average * revenue_orders != revenue
            session.rollback()

    agree()
    assert reached["refunded"] > 10
    assert reached["rounded"] > 10


def test_an_unchanged_row_is_not_written_again_and_a_row_no_order_backs_is_deleted(postgres_url: str) -> None:
    with session_scope(postgres_url) as session:
        shop = make_store(session, "EUR")
        day = NOW - timedelta(days=3)
        ingest.ingest_orders(session, shop, [order("u1", day, email="dan@example.com", total_price="30")])
        contact = session.scalar(
            select(Contact.id).where(
                Contact.account_id == shop.account_id, Contact.email == "dan@example.com"
            )
        )
        period_spend.refresh_spend(session, shop.account_id, [contact], now=NOW)
        rows = select(ContactPeriodSpend.period, ContactPeriodSpend.store_id, ContactPeriodSpend.revenue)
        before = session.execute(rows.where(ContactPeriodSpend.contact_id == contact)).all()
        assert before
        assert all(r.revenue == Decimal("30.00") for r in before)
        # Each row version's creating transaction: a rewritten row would carry a newer one.
        stamp = select(
            ContactPeriodSpend.period, ContactPeriodSpend.store_id, literal_column("xmin::text")
        ).where(ContactPeriodSpend.contact_id == contact)
        session.commit()
        first = sorted(session.execute(stamp).all())
        period_spend.refresh_spend(session, shop.account_id, [contact], now=NOW)
        session.commit()
        assert sorted(session.execute(stamp).all()) == first

        # The order cancelled: every row goes, and the counts with them.
        ingest.ingest_orders(
            session,
            shop,
            [order("u1", day, day + timedelta(hours=1), email="dan@example.com", total_price="30",
                   cancelled_at=day + timedelta(hours=1))],
        )  # fmt: skip
        period_spend.refresh_spend(session, shop.account_id, [contact], now=NOW)
        assert session.execute(rows.where(ContactPeriodSpend.contact_id == contact)).all() == []
        assert (
            session.scalars(
                select(PeriodCurrency.contacts).where(PeriodCurrency.account_id == shop.account_id)
            ).all()
            == []
        )
