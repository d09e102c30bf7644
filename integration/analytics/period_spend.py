"""Each contact's spend per calendar period (`contact_period_spend`), kept in step with the orders.

A batch of orders recomputes the rows of the contacts it touched; a bulk load rebuilds them all; a
daily prune drops the periods no time frame can name any more. Alongside, `period_currencies`
counts the contacts per period and currency, so a leaderboard finds its main currency at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from integration.analytics.periods import horizon, kept_periods, period_keys
from integration.commerce import orders as order_rules
from integration.store.bulk import among, chunks, insert_for, insert_rows
from integration.store.models import (
    NON_REVENUE_FINANCIAL_STATUSES,
    NOT_PLACED_FINANCIAL_STATUSES,
    Account,
    ContactPeriodSpend,
    Order,
    PeriodCurrency,
    Store,
    table_of,
)
from integration.store.types import utcnow

ACCOUNT_WIDE = 0  # store_id of the account-wide rows
CENT = Decimal("0.01")


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
    if session.get_bind().dialect.name == "postgresql":
        _refresh_in_sql(session, account, ids, kept, now)
    else:
        _refresh_in_python(session, account_id, ids, zones, kept, now)


def _refresh_in_sql(
    session: Session, account: Account, ids: list[int], kept: set[str], now: datetime
) -> None:
    """PostgreSQL: the rows are computed where the orders are, and only those that differ are
    written (an unchanged row is locked, not rewritten; a row no order backs any more is deleted).
    The local dates come from PostgreSQL's time zone data, the kept periods from Python's."""
    # The counts per period and currency, which every writer of the account shares, are written
    # once, last: their rows stay locked until the commit, so a writer of other contacts waits for
    # that moment only.
    delta: Counter[tuple[int, str, str]] = Counter()
    for part in chunks(ids):
        for store_id, period, currency, n in session.execute(
            text(REFRESH_SQL), {**_sql_parameters(account, kept, now), "contacts": part}
        ):
            delta[(store_id, period, currency)] += int(n)
    _bump(session, account.id, delta)


def _sql_parameters(account: Account, kept: set[str], now: datetime) -> dict[str, Any]:
    """What PERIOD_ROWS asks for but the contacts."""
    return {
        "account": account.id,
        "zone": account.time_zone,
        "kept": sorted(kept),
        "since": horizon(now),
        "not_placed": list(NOT_PLACED_FINANCIAL_STATUSES),
        "no_revenue": list(NON_REVENUE_FINANCIAL_STATUSES),
    }


def _refresh_in_python(
    session: Session,
    account_id: int,
    ids: list[int],
    zones: dict[int, ZoneInfo],
    kept: set[str],
    now: datetime,
) -> None:
    """Elsewhere: the rows worked out in Python from the contacts' orders, and written anew."""
    for part in chunks(ids):
        mine = (
            ContactPeriodSpend.account_id == account_id,
            among(session, ContactPeriodSpend.contact_id, part),
        )
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
                among(session, Order.contact_id, part),
                Order.store_id.in_(list(zones)),
                order_rules.placed(),
                Order.created_at >= horizon(now),
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
            insert_rows(
                session,
                table_of(ContactPeriodSpend),
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
        kept = kept_periods(_zones(session, account).values(), now)
        session.execute(text(REBUILD_SQL), _sql_parameters(account, kept, now))
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


# Each contact's rows as refresh_spend works them out, on PostgreSQL: the orders that count as
# integration.commerce.orders says (net of refunds; the statuses are parameters), each placed in its
# local day in the account's zone (scope 0) and its store's, and so in a week, month, quarter and
# year, of which only the kept periods are summed. `{contacts}` picks the contacts. The statements
# below are assembled from these fixed fragments; every value is a bound parameter (hence `S608`).
PERIOD_ROWS = """
SELECT sc.scope AS store_id, p.period, x.currency, x.contact_id, count(*) AS purchases,
       count(*) FILTER (WHERE x.earns) AS revenue_orders,
       coalesce(sum(x.total_price) FILTER (WHERE x.earns), 0) AS revenue,
       coalesce(round(sum(x.total_price) FILTER (WHERE x.earns)
                      / nullif(count(*) FILTER (WHERE x.earns), 0), 2), 0) AS average,
       max(x.created_at) AS last_order_at
FROM (
    SELECT o.contact_id, o.currency, o.total_price - o.total_refunded AS total_price, o.created_at,
           s.id AS store_id, s.time_zone AS store_zone,
           (o.financial_status IS NULL OR o.financial_status <> ALL(CAST(:no_revenue AS text[]))) AS earns
    FROM orders o JOIN stores s ON s.id = o.store_id
    WHERE s.account_id = :account AND {contacts}
      AND o.cancelled_at IS NULL AND o.deleted_at IS NULL
      AND (o.financial_status IS NULL OR o.financial_status <> ALL(CAST(:not_placed AS text[])))
      AND o.created_at >= :since
) x
CROSS JOIN LATERAL (VALUES (CAST(0 AS bigint), (x.created_at AT TIME ZONE :zone)::date),
                           (x.store_id, (x.created_at AT TIME ZONE x.store_zone)::date)) AS sc(scope, day)
CROSS JOIN LATERAL (VALUES ('w' || to_char(sc.day, 'IYYY-IW')), ('m' || to_char(sc.day, 'YYYY-MM')),
                           ('q' || to_char(sc.day, 'YYYY') || '-' || to_char(sc.day, 'Q')),
                           ('y' || to_char(sc.day, 'YYYY'))) AS p(period)
WHERE p.period = ANY(CAST(:kept AS text[]))
GROUP BY sc.scope, p.period, x.currency, x.contact_id
"""
SPEND_COLUMNS = (
    "store_id, period, currency, contact_id, purchases, revenue_orders, revenue, average, last_order_at"
)

# Every contact's rows at once (after a bulk load).
REBUILD_SQL = f"""
INSERT INTO contact_period_spend (account_id, {SPEND_COLUMNS})
SELECT :account, {SPEND_COLUMNS}
FROM ({PERIOD_ROWS.format(contacts="o.contact_id IS NOT NULL")}) AS rows
"""  # noqa: S608

# Some contacts' rows, written only where they differ; returns the change in contacts per scope,
# period and currency (a new row +1, a deleted one -1).
REFRESH_SQL = f"""
WITH fresh AS ({PERIOD_ROWS.format(contacts="o.contact_id = ANY(CAST(:contacts AS bigint[]))")}),
gone AS (
    DELETE FROM contact_period_spend c
    WHERE c.account_id = :account AND c.contact_id = ANY(CAST(:contacts AS bigint[]))
      AND NOT EXISTS (SELECT FROM fresh f
                      WHERE f.store_id = c.store_id AND f.period = c.period
                        AND f.currency = c.currency AND f.contact_id = c.contact_id)
    RETURNING c.store_id, c.period, c.currency
),
put AS (
    INSERT INTO contact_period_spend AS c (account_id, {SPEND_COLUMNS})
    SELECT :account, {SPEND_COLUMNS}
    FROM fresh
    ORDER BY store_id, period, currency, contact_id
    ON CONFLICT (account_id, store_id, period, currency, contact_id) DO UPDATE
    SET purchases = excluded.purchases, revenue_orders = excluded.revenue_orders,
        revenue = excluded.revenue, average = excluded.average, last_order_at = excluded.last_order_at
    WHERE (c.purchases, c.revenue_orders, c.revenue, c.average, c.last_order_at)
          IS DISTINCT FROM (excluded.purchases, excluded.revenue_orders, excluded.revenue,
                            excluded.average, excluded.last_order_at)
    RETURNING c.store_id, c.period, c.currency, c.xmax = 0 AS inserted
)
SELECT store_id, period, currency, sum(n)
FROM (SELECT store_id, period, currency, -1 AS n FROM gone
      UNION ALL
      SELECT store_id, period, currency, 1 FROM put WHERE inserted) AS changes
GROUP BY store_id, period, currency
"""  # noqa: S608
