"""Carts day by day: the checkouts abandoned on each calendar day of a time zone, and how many of them
were recovered since; the days of a period add up to its cart statistics (`cart_stats.cart_stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from integration.commerce.cart_stats import abandoned_in
from integration.store.models import Checkout, CheckoutLineItem, CheckoutState, Store

MAX_DAYS = 366  # a year and its leap day: one bucket per day in a single query


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) of a calendar day in the time zone."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def cart_days(
    session: Session,
    account_id: int,
    first: date,
    last: date,
    zone: ZoneInfo,
    store_id: int | None = None,
) -> list[dict[str, Any]]:
    """Each day from `first` to `last` (whole days in `zone`): carts abandoned on it, and recovered since."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)][:MAX_DAYS]
    if not days:
        return []
    ends = [day_start(day + timedelta(days=1), zone) for day in days]
    # One bucket per day, decided in SQL by the first day end after the abandonment (the zone's own
    # day lengths, 23 or 25 hours on a clock change, come with the edges).
    bucket = case(*((Checkout.abandoned_at < end, i) for i, end in enumerate(ends)), else_=None)
    scope = abandoned_in(account_id, day_start(days[0], zone), ends[-1], store_id)
    counts: dict[tuple[int, CheckoutState], int] = {
        (index, state): n
        for index, state, n in session.execute(
            select(bucket, Checkout.state, func.count())
            .join(Store, Store.id == Checkout.store_id)
            .where(*scope)
            .group_by(bucket, Checkout.state)
        )
    }
    return [
        {
            "day": day.isoformat(),
            "abandoned": sum(n for (index, _), n in counts.items() if index == i),
            "recovered": counts.get((i, CheckoutState.RECOVERED), 0),
        }
        for i, day in enumerate(days)
    ]


def item_titles(session: Session, checkout_ids: Sequence[int], first: int = 2) -> dict[int, list[str]]:
    """The titles of each checkout's first `first` line items, in the checkout's order."""
    titles: dict[int, list[str]] = {}
    if not checkout_ids:
        return titles
    rows = session.execute(
        select(CheckoutLineItem.checkout_id, CheckoutLineItem.title)
        .where(CheckoutLineItem.checkout_id.in_(list(checkout_ids)))
        .order_by(CheckoutLineItem.checkout_id, CheckoutLineItem.id)
    )
    for checkout_id, title in rows:
        kept = titles.setdefault(checkout_id, [])
        if len(kept) < first:
            kept.append(title)
    return titles
