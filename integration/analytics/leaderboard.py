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
that fell out; the table stays a few rows per buyer whatever the history's length. The periods are
in `analytics.periods`, the spend rows in `analytics.period_spend`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.analytics.period_spend import ACCOUNT_WIDE
from integration.analytics.periods import Period, TimeFrame, period_of
from integration.money import amount
from integration.store.db import required_account_row
from integration.store.models import Account, Contact, ContactPeriodSpend, PeriodCurrency, Store
from integration.store.types import utcnow

# Kept here for the leaderboard's callers: the spend rows and the periods live in their own modules.
MAX_LIMIT = 500


class RankBy(StrEnum):
    PURCHASES = "purchases"
    AVERAGE_ORDER = "average_order"
    TOTAL_SPENT = "total_spent"


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
    store, zone, period = _period(session, account_id, time_frame, store_id, now)
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


def currencies(
    session: Session,
    account_id: int,
    *,
    time_frame: TimeFrame,
    store_id: int | None = None,
    now: datetime | None = None,
) -> list[str]:
    """The currencies customers bought in during the period, the most customers' first (a board each)."""
    _, _, period = _period(session, account_id, time_frame, store_id, now)
    counts = PeriodCurrency
    return list(
        session.scalars(
            select(counts.currency)
            .where(
                counts.account_id == account_id,
                counts.store_id == (store_id if store_id is not None else ACCOUNT_WIDE),
                counts.period == period.key,
                counts.contacts > 0,
            )
            .order_by(counts.contacts.desc(), counts.currency)
        )
    )


def _period(
    session: Session, account_id: int, time_frame: TimeFrame, store_id: int | None, now: datetime | None
) -> tuple[Store | None, ZoneInfo, Period]:
    """The store asked for (None: the whole account), its time zone and the period the time frame names."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    store = (
        required_account_row(session, Store, store_id, account_id, "store") if store_id is not None else None
    )
    zone = ZoneInfo(store.time_zone if store else account.time_zone)
    now = now or utcnow()
    return store, zone, period_of(time_frame, now.astimezone(zone).date())


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
