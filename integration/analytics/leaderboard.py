"""The loyalty leaderboard: customers ranked by purchases, average order or total spent in a period.

Periods are calendar periods — `last_week`, `last_month`, `month_to_date`, `last_quarter`,
`quarter_to_date`, `last_year`, `year_to_date` — in the store's time zone, or in the account's time
zone across all its stores; weeks start on Monday. Only orders inside the period count: purchases
are placed orders (not cancelled, voided or deleted), total spent and the average order are over
revenue orders (refunded ones excluded). Customers with equal values share a rank (1, 2, 2, 4).

Answering fast at any size needs no scan of the orders: each contact's spend per calendar week,
month, quarter and year is kept in `contact_period_spend`, recomputed for the contacts a batch of
orders touched, so a leaderboard is one indexed read of one period. Only the periods a time frame
can name are kept — in each time zone in use, this and last week, month, quarter and year (this
one becomes last one when it ends, so no row is ever missing) — and a daily job drops the periods
that fell out; the table stays a few rows per buyer whatever the history's length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from integration.commerce import orders as order_rules
from integration.money import amount
from integration.store.bulk import chunks, insert_for
from integration.store.models import (
    Account,
    Contact,
    ContactPeriodSpend,
    Order,
    PeriodCurrency,
    Store,
    table_of,
)
from integration.store.types import utcnow

ACCOUNT_WIDE = 0  # store_id of the account-wide rows
MAX_LIMIT = 500
CENT = Decimal("0.01")


class RankBy(StrEnum):
    PURCHASES = "purchases"
    AVERAGE_ORDER = "average_order"
    TOTAL_SPENT = "total_spent"


class TimeFrame(StrEnum):
    LAST_WEEK = "last_week"
    LAST_MONTH = "last_month"
    MONTH_TO_DATE = "month_to_date"
    LAST_QUARTER = "last_quarter"
    QUARTER_TO_DATE = "quarter_to_date"
    LAST_YEAR = "last_year"
    YEAR_TO_DATE = "year_to_date"


def period_keys(day: date) -> tuple[str, str, str, str]:
    """The week, month, quarter and year a local date belongs to."""
    year, week, _ = day.isocalendar()
    return (
        f"w{year}-{week:02}",
        f"m{day.year}-{day.month:02}",
        f"q{day.year}-{(day.month - 1) // 3 + 1}",
        f"y{day.year}",
    )


@dataclass(frozen=True)
class Period:
    key: str
    start: date  # first local day
    end: date  # last local day


def period_of(frame: TimeFrame, today: date) -> Period:
    """The calendar period a time frame names, seen from a local date."""
    if frame == TimeFrame.LAST_WEEK:
        start = today - timedelta(days=today.weekday() + 7)
        return Period(period_keys(start)[0], start, start + timedelta(days=6))
    if frame in (TimeFrame.MONTH_TO_DATE, TimeFrame.LAST_MONTH):
        first = today.replace(day=1)
        if frame == TimeFrame.LAST_MONTH:
            end = first - timedelta(days=1)
            return Period(period_keys(end)[1], end.replace(day=1), end)
        return Period(period_keys(first)[1], first, today)
    if frame in (TimeFrame.QUARTER_TO_DATE, TimeFrame.LAST_QUARTER):
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        if frame == TimeFrame.LAST_QUARTER:
            end = first - timedelta(days=1)
            return Period(period_keys(end)[2], date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end)
        return Period(period_keys(first)[2], first, today)
    first = date(today.year, 1, 1)
    if frame == TimeFrame.LAST_YEAR:
        return Period(f"y{today.year - 1}", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    return Period(f"y{today.year}", first, today)


def kept_periods(zones: Iterable[ZoneInfo], now: datetime) -> set[str]:
    """The periods a leaderboard can name now or once the current ones end, in these time zones."""
    keys: set[str] = set()
    for zone in zones:
        today = now.astimezone(zone).date()
        keys.update(period_of(frame, today).key for frame in TimeFrame)
        keys.add(period_keys(today)[0])  # this week: next week's last week
    return keys


def _horizon(now: datetime) -> datetime:
    """Orders placed before this fall in no kept period (the start of last year, a day early for zones)."""
    return datetime(now.year - 1, 1, 1, tzinfo=now.tzinfo) - timedelta(days=2)


def _zones(session: Session, account: Account) -> dict[int, ZoneInfo]:
    zones = {ACCOUNT_WIDE: ZoneInfo(account.time_zone)}
    zones.update(
        {
            s.id: ZoneInfo(s.time_zone)
            for s in session.scalars(select(Store).where(Store.account_id == account.id))
        }
    )
    return zones


def refresh_spend(
    session: Session, account_id: int, contact_ids: Iterable[int], now: datetime | None = None
) -> None:
    """Recompute the period rows of these contacts from their orders (after orders changed)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    account = session.get(Account, account_id)
    if account is None:
        return
    now = now or utcnow()
    zones = _zones(session, account)
    kept = kept_periods(zones.values(), now)
    for part in chunks(ids):
        mine = (ContactPeriodSpend.account_id == account_id, ContactPeriodSpend.contact_id.in_(part))
        delta: Counter[tuple[int, str, str]] = Counter()
        for store_id, period, currency, n in session.execute(
            select(
                ContactPeriodSpend.store_id,
                ContactPeriodSpend.period,
                ContactPeriodSpend.currency,
                func.count(),
            )
            .where(*mine)
            .group_by(ContactPeriodSpend.store_id, ContactPeriodSpend.period, ContactPeriodSpend.currency)
        ):
            delta[(store_id, period, currency)] -= n
        session.execute(delete(ContactPeriodSpend).where(*mine))
        rows = session.execute(
            select(
                Order.contact_id,
                Order.store_id,
                Order.created_at,
                Order.currency,
                order_rules.net_total(),
                order_rules.revenue(),
            ).where(
                Order.contact_id.in_(part),
                Order.store_id.in_(list(zones)),
                order_rules.placed(),
                Order.created_at >= _horizon(now),
            )
        )
        totals: dict[tuple[int, str, str, int], list[Any]] = {}
        for contact_id, store_id, created_at, currency, total, is_revenue in rows:
            if contact_id is None:
                continue
            for scope in (ACCOUNT_WIDE, store_id):
                local_day = created_at.astimezone(zones[scope]).date()
                for period in period_keys(local_day):
                    if period not in kept:
                        continue
                    entry = totals.setdefault(
                        (scope, period, currency, contact_id), [0, 0, Decimal(0), created_at]
                    )
                    entry[0] += 1
                    if is_revenue:
                        entry[1] += 1
                        entry[2] += Decimal(total)
                    entry[3] = max(entry[3], created_at)
        for scope, period, currency, _ in totals:
            delta[(scope, period, currency)] += 1
        _bump(session, account_id, delta)
        if totals:
            session.execute(
                table_of(ContactPeriodSpend).insert(),
                [
                    {
                        "account_id": account_id,
                        "store_id": scope,
                        "period": period,
                        "currency": currency,
                        "contact_id": contact_id,
                        "purchases": purchases,
                        "revenue_orders": revenue_orders,
                        "revenue": revenue,
                        "average": (revenue / revenue_orders).quantize(CENT, ROUND_HALF_UP)
                        if revenue_orders
                        else 0,
                        "last_order_at": last,
                    }
                    for (scope, period, currency, contact_id), (
                        purchases,
                        revenue_orders,
                        revenue,
                        last,
                    ) in totals.items()
                ],
            )


def rebuild(session: Session, account_id: int, batch: int = 5_000, now: datetime | None = None) -> int:
    """Recompute every contact's period rows (after a bulk load); return how many contacts have rows.

    On PostgreSQL one statement does it (time zones and ISO weeks in SQL); elsewhere contacts are
    recomputed in batches.
    """
    now = now or utcnow()
    account = session.get(Account, account_id)
    if account is None:
        return 0
    stores = select(Store.id).where(Store.account_id == account_id).scalar_subquery()
    session.execute(delete(ContactPeriodSpend).where(ContactPeriodSpend.account_id == account_id))
    if session.get_bind().dialect.name == "postgresql":
        kept = sorted(kept_periods(_zones(session, account).values(), now))
        session.execute(
            text(REBUILD_SQL),
            {"account": account_id, "zone": account.time_zone, "kept": kept, "since": _horizon(now)},
        )
        # Millions of new rows: the planner needs their statistics before the next leaderboard.
        session.execute(text("ANALYZE contact_period_spend"))
    else:
        _refresh_all(session, account_id, stores, batch, now)
    _recount(session, account_id)
    return int(
        session.scalar(
            select(func.count(func.distinct(ContactPeriodSpend.contact_id))).where(
                ContactPeriodSpend.account_id == account_id
            )
        )
        or 0
    )


def _refresh_all(session: Session, account_id: int, stores: Any, batch: int, now: datetime) -> None:
    contact_ids = list(
        session.scalars(
            select(Order.contact_id)
            .where(Order.store_id.in_(stores), Order.contact_id.is_not(None))
            .distinct()
        )
    )
    for start in range(0, len(contact_ids), batch):
        part = [c for c in contact_ids[start : start + batch] if c is not None]
        refresh_spend(session, account_id, part, now=now)


def prune_spend(session: Session, account_id: int, now: datetime | None = None) -> int:
    """Drop the period rows no time frame can name any more; return how many."""
    account = session.get(Account, account_id)
    if account is None:
        return 0
    kept = kept_periods(_zones(session, account).values(), now or utcnow())
    table = table_of(ContactPeriodSpend)
    dropped = session.execute(
        delete(table).where(table.c.account_id == account_id, table.c.period.not_in(sorted(kept)))
    ).rowcount  # type: ignore[attr-defined]
    _recount(session, account_id)  # daily: whatever drifted (rows that left with their contact) is set right
    return int(dropped)


def _bump(session: Session, account_id: int, delta: Counter[tuple[int, str, str]]) -> None:
    """Add these changes to the per-period currency counts (in key order: no deadlock between workers)."""
    changes = sorted((key, n) for key, n in delta.items() if n)
    if not changes:
        return
    table = table_of(PeriodCurrency)
    stmt = insert_for(session, table)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "store_id", "period", "currency"],
            set_={"contacts": table.c.contacts + stmt.excluded.contacts},
        ),
        [
            {"account_id": account_id, "store_id": s, "period": p, "currency": c, "contacts": n}
            for (s, p, c), n in changes
        ],
    )
    if any(n < 0 for _, n in changes):
        session.execute(delete(table).where(table.c.account_id == account_id, table.c.contacts <= 0))


def _recount(session: Session, account_id: int) -> None:
    """Count the period rows per currency afresh (after a rebuild or a prune)."""
    spend = ContactPeriodSpend
    session.execute(delete(PeriodCurrency).where(PeriodCurrency.account_id == account_id))
    session.execute(
        insert(PeriodCurrency).from_select(
            ["account_id", "store_id", "period", "currency", "contacts"],
            select(spend.account_id, spend.store_id, spend.period, spend.currency, func.count())
            .where(spend.account_id == account_id)
            .group_by(spend.account_id, spend.store_id, spend.period, spend.currency),
        )
    )


# The same rows as refresh_spend, for every contact at once (PostgreSQL).
REBUILD_SQL = """
INSERT INTO contact_period_spend (account_id, store_id, period, currency, contact_id, purchases,
                                  revenue_orders, revenue, average, last_order_at)
SELECT :account, scope, period, currency, contact_id, count(*),
       count(*) FILTER (WHERE earns),
       coalesce(sum(total_price) FILTER (WHERE earns), 0),
       coalesce(round(sum(total_price) FILTER (WHERE earns)
                      / nullif(count(*) FILTER (WHERE earns), 0), 2), 0),
       max(created_at)
FROM (
    -- Net of refunds, as integration.commerce.orders.net_total.
    SELECT o.contact_id, o.currency, o.total_price - o.total_refunded AS total_price, o.created_at,
           s.id AS store_id, s.time_zone AS store_zone,
           (o.financial_status IS NULL OR o.financial_status NOT IN ('refunded', 'voided')) AS earns
    FROM orders o JOIN stores s ON s.id = o.store_id
    WHERE s.account_id = :account AND o.contact_id IS NOT NULL AND o.cancelled_at IS NULL
      AND o.deleted_at IS NULL AND (o.financial_status IS NULL OR o.financial_status <> 'voided')
      AND o.created_at >= :since
) x
CROSS JOIN LATERAL (VALUES (0, (x.created_at AT TIME ZONE :zone)::date),
                           (x.store_id, (x.created_at AT TIME ZONE x.store_zone)::date)) AS sc(scope, day)
CROSS JOIN LATERAL (VALUES ('w' || to_char(sc.day, 'IYYY-IW')), ('m' || to_char(sc.day, 'YYYY-MM')),
                           ('q' || to_char(sc.day, 'YYYY') || '-' || to_char(sc.day, 'Q')),
                           ('y' || to_char(sc.day, 'YYYY'))) AS p(period)
WHERE p.period = ANY(CAST(:kept AS text[]))
GROUP BY scope, period, currency, contact_id
"""


def leaderboard(
    session: Session,
    account_id: int,
    *,
    rank_by: RankBy,
    time_frame: TimeFrame,
    store_id: int | None = None,
    currency: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The top customers of a period: rank (shared by ties), purchases, average order, total spent."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    store = session.get(Store, store_id) if store_id is not None else None
    if store_id is not None and (store is None or store.account_id != account_id):
        raise LookupError(f"no store {store_id}")
    zone = ZoneInfo(store.time_zone if store else account.time_zone)
    now = now or utcnow()
    period = period_of(time_frame, now.astimezone(zone).date())
    scope = [
        ContactPeriodSpend.account_id == account_id,
        ContactPeriodSpend.store_id == (store_id if store_id is not None else ACCOUNT_WIDE),
        ContactPeriodSpend.period == period.key,
    ]
    if currency is None:
        currency = store.currency if store else _main_currency(session, account_id, store_id, period.key)
    metric = {
        RankBy.PURCHASES: ContactPeriodSpend.purchases,
        RankBy.AVERAGE_ORDER: ContactPeriodSpend.average,
        RankBy.TOTAL_SPENT: ContactPeriodSpend.revenue,
    }[rank_by]
    query = (
        select(ContactPeriodSpend, Contact.email, Contact.first_name, Contact.last_name)
        .join(Contact, Contact.id == ContactPeriodSpend.contact_id)
        .where(*scope, ContactPeriodSpend.currency == currency, Contact.deleted_at.is_(None), metric > 0)
        .order_by(metric.desc(), ContactPeriodSpend.contact_id.desc())
    )
    rows = list(session.execute(query.limit(min(limit, MAX_LIMIT))).all())
    more_tied = False
    if rows:  # the customers tied with the last one shown are shown too, up to MAX_LIMIT rows in all
        last = getattr(rows[-1][0], metric.key)
        seen = {r[0].contact_id for r in rows}
        tied = session.execute(query.where(metric == last).limit(MAX_LIMIT + len(rows) + 1)).all()
        extra = [r for r in tied if r[0].contact_id not in seen]
        room = max(0, MAX_LIMIT - len(rows))
        more_tied = len(extra) > room
        rows += extra[:room]
    ranked = []
    previous, rank = None, 0
    for position, (spend, email, first, last_name) in enumerate(rows, start=1):
        value = getattr(spend, metric.key)
        if value != previous:
            rank, previous = position, value
        ranked.append(
            {
                "rank": rank,
                "contact": {
                    "id": spend.contact_id,
                    "email": email,
                    "first_name": first,
                    "last_name": last_name,
                },
                "purchases": spend.purchases,
                "average_order": amount(spend.average),
                "total_spent": amount(spend.revenue),
                "currency": spend.currency,
                "last_order_at": spend.last_order_at.isoformat(),
                "last_order_at_local": spend.last_order_at.astimezone(zone).isoformat(),
            }
        )
    return {
        "rank_by": rank_by.value,
        "time_frame": time_frame.value,
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "time_zone": str(zone)},
        "store_id": store_id,
        "currency": currency,
        "rows": ranked,
        # More customers share the last rank shown than MAX_LIMIT rows leave room for.
        "more_tied": more_tied,
    }


def _main_currency(session: Session, account_id: int, store_id: int | None, period: str) -> str | None:
    """The currency most contacts bought in during the period (then alphabetical)."""
    counts = PeriodCurrency
    return session.scalar(
        select(counts.currency)
        .where(
            counts.account_id == account_id,
            counts.store_id == (store_id if store_id is not None else ACCOUNT_WIDE),
            counts.period == period,
        )
        .order_by(counts.contacts.desc(), counts.currency)
        .limit(1)
    )
