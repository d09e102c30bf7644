"""Contacts statistics: engaged, unengaged and blocked counts, their shares, and what each group buys.

Shares are of engaged + unengaged, in percent with two decimals, and always sum to exactly 100.00
(largest-remainder rounding, ties to the engaged group); with no such contacts both are 0.00.
Each group carries its 30-day change (see integration.analytics.history). AOV is revenue ÷ orders, ACV
revenue ÷ contacts with an order, ANO orders ÷ contacts with an order, per currency, over revenue
orders (not cancelled, voided or refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlalchemy.orm import Session

from integration.analytics import counted, history
from integration.analytics.history import Movements, thirty_day_change
from integration.store.bulk import insert_for
from integration.store.models import (
    Account,
    Contact,
    EngagementStatus,
    StatsCache,
    SubscriptionStatus,
    table_of,
)
from integration.store.types import utcnow

CENT = Decimal("0.01")
GROUPS = (EngagementStatus.ENGAGED, EngagementStatus.UNENGAGED, EngagementStatus.BLOCKED)


class SubscriptionFilter(StrEnum):
    SUBSCRIBED = "subscribed"
    UNKNOWN = "unknown"
    SUBSCRIBED_UNKNOWN = "subscribed_unknown"

    def statuses(self) -> list[SubscriptionStatus]:
        """The subscription statuses this filter admits."""
        if self == SubscriptionFilter.SUBSCRIBED_UNKNOWN:
            return [SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.UNKNOWN]
        return [SubscriptionStatus(self.value)]

    def clause(self) -> ColumnElement[bool]:
        return Contact.subscription_status.in_(self.statuses())


def shares(counts: list[int]) -> list[Decimal]:
    """Percentages of `counts` with two decimals that sum to exactly 100.00 (largest remainder)."""
    total = sum(counts)
    if total == 0:
        return [Decimal("0.00")] * len(counts)
    hundredths = [c * 10_000 for c in counts]
    floors = [h // total for h in hundredths]
    remainders = [h % total for h in hundredths]
    for index in sorted(range(len(counts)), key=lambda i: (-remainders[i], i))[: 10_000 - sum(floors)]:
        floors[index] += 1
    return [(Decimal(f) / 100).quantize(CENT) for f in floors]


@dataclass(frozen=True)
class Aggregates:
    """An account's contacts and revenue orders counted once, by engagement and subscription status.

    Every filter's statistics are sums over these rows: a contact has one subscription status, so
    the buyers of different statuses never overlap and their counts add up.
    """

    counts: dict[tuple[EngagementStatus | None, SubscriptionStatus], int]
    money: list[tuple[EngagementStatus | None, SubscriptionStatus, str, int, Decimal, int]]
    movements: Movements | None  # None: no snapshot recent enough for a 30-day change


def aggregate(session: Session, account_id: int, now: datetime) -> Aggregates:
    """The account's contacts and their revenue orders by (engagement, subscription[, currency]),
    and the movements since the snapshot of 30 days ago.

    Read from the counted sums (`integration.analytics.counted`), brought up to date first with the
    contacts that changed since the last time: the cost follows the changes, not the contacts.
    """
    snapshot = history.snapshot_then(session, account_id, now)
    sums = counted.fold(session, account_id, now, snapshot[0] if snapshot else None)
    money = [
        (engagement, subscription, currency, orders, revenue, buyers)
        for (engagement, subscription, currency), (orders, revenue, buyers) in sums.money.items()
    ]
    moved = None
    if snapshot is not None:
        since, then = snapshot
        moved = Movements(since, then, [(*key, n) for key, n in sums.moves.items()])
    return Aggregates(dict(sums.counts), money, moved)


def contact_stats(
    session: Session,
    account_id: int,
    subscription: SubscriptionFilter,
    now: datetime | None = None,
    aggregates: Aggregates | None = None,
) -> dict[str, Any]:
    """Return the statistics of an account's contacts under a subscription filter."""
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    now = now or utcnow()
    data = aggregates or aggregate(session, account_id, now)
    admitted = set(subscription.statuses())
    counts: dict[EngagementStatus | None, int] = {}
    for (engagement, status), n in data.counts.items():
        if status in admitted:
            counts[engagement] = counts.get(engagement, 0) + n
    engaged, unengaged = counts.get(EngagementStatus.ENGAGED, 0), counts.get(EngagementStatus.UNENGAGED, 0)
    engaged_share, unengaged_share = shares([engaged, unengaged])
    groups: dict[str, dict[str, Any]] = {
        EngagementStatus.ENGAGED.value: {"count": engaged, "percent": str(engaged_share), "value": []},
        EngagementStatus.UNENGAGED.value: {"count": unengaged, "percent": str(unengaged_share), "value": []},
        EngagementStatus.BLOCKED.value: {"count": counts.get(EngagementStatus.BLOCKED, 0), "value": []},
    }
    summed: dict[tuple[EngagementStatus, str], list[Any]] = {}
    for engagement, status, currency, order_count, revenue, buyers in data.money:
        if engagement is None or status not in admitted:
            continue  # not classified yet: counted once the job that stored it finishes
        total = summed.setdefault((engagement, currency), [0, Decimal(0), 0])
        total[0] += order_count
        total[1] += revenue
        total[2] += buyers
    for (engagement, currency), (order_count, revenue, buyers) in sorted(
        summed.items(), key=lambda kv: kv[0][1]
    ):
        groups[engagement.value]["value"].append(
            {
                "currency": currency,
                "revenue": str(revenue.quantize(CENT)),
                "orders": order_count,
                "customers": buyers,
                "aov": str((revenue / order_count).quantize(CENT, ROUND_HALF_UP)),
                "acv": str((revenue / buyers).quantize(CENT, ROUND_HALF_UP)),
                "ano": str((Decimal(order_count) / buyers).quantize(CENT, ROUND_HALF_UP)),
            }
        )
    now_counts = {group: n for group, n in counts.items() if group is not None}
    change = (
        thirty_day_change(data.movements, subscription.statuses(), now_counts) if data.movements else None
    )
    for name, group in groups.items():
        group["change_30d"] = change[name] if change else None
    return {
        "subscription": subscription.value,
        "time_frame_days": account.engagement_window_days,
        "updated_at": account.classified_at.isoformat() if account.classified_at else None,
        "groups": groups,
    }


def cached_stats(session: Session, account_id: int, subscription: SubscriptionFilter) -> dict[str, Any]:
    """The statistics as last computed by the refresh job (computed now if they never were).

    `updated_at` is when they were computed; the refresh job runs after each batch of changes.
    """
    cached = session.get(StatsCache, (account_id, subscription.value))
    if cached is None:
        refresh_stats(session, account_id)
        cached = session.get(StatsCache, (account_id, subscription.value))
        assert cached is not None  # noqa: S101 - just written
    return {**cached.payload, "updated_at": cached.computed_at.isoformat()}


def refresh_stats(session: Session, account_id: int, now: datetime | None = None) -> None:
    """Compute the statistics under every subscription filter and keep them for the endpoint."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # A few aggregates over indexed tables: compiling them costs more than it saves (up to a
        # second at a million contacts), and this job's delay is the statistics' delay.
        session.execute(text("SET LOCAL jit = off"))
    # One pass over contacts and buyers' totals, and one read of the 30-day movements, for all filters.
    aggregates = aggregate(session, account_id, now)
    table = table_of(StatsCache)
    rows = [
        {
            "account_id": account_id,
            "subscription": choice.value,
            "payload": contact_stats(session, account_id, choice, now, aggregates),
            "computed_at": now,
        }
        for choice in SubscriptionFilter
    ]
    stmt = insert_for(session, table)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "subscription"],
            set_={"payload": stmt.excluded.payload, "computed_at": stmt.excluded.computed_at},
        ),
        rows,
    )
    session.expire_all()
