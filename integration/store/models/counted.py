"""What the contact statistics have counted, so that a refresh adds only what changed since.

Triggers on `contacts`, `contact_totals` and the transition logs (migration 0031) note each contact
whose group, revenue or logged changes changed in `stats_dirty`, in the transaction that changed it.
The refresh takes those notes, rewrites the contacts' counted rows (`stats_counted`,
`stats_counted_money`, `stats_counted_moves`) from their current state and moves the difference into
the account's sums (`stats_bases.groups`): its cost follows the contacts that changed, not the
contacts there are.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, EngagementStatus, SubscriptionStatus, state


class StatsDirty(Base):
    """A contact whose counted state may be out of date (written by triggers, taken by the refresh).

    No foreign keys: a note may outlive its contact (a deleted contact is subtracted by it) and is
    written while an account's rows are being deleted. The counted rows have none either (a check
    per row would double a recount's time): deleting an account deletes them by a trigger. They are
    keyed by account first: a contact id SQLite hands out again cannot meet another account's row.
    """

    __tablename__ = "stats_dirty"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID)
    contact_id: Mapped[int] = mapped_column(BigID)


class StatsCounted(Base):
    """A contact as the statistics counted it: its group and subscription (deleted ones have no row)."""

    __tablename__ = "stats_counted"
    __table_args__ = (PrimaryKeyConstraint("account_id", "contact_id"),)

    account_id: Mapped[int] = mapped_column(BigID)
    contact_id: Mapped[int] = mapped_column(BigID)
    engagement_status: Mapped[EngagementStatus | None] = mapped_column(state(EngagementStatus))
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(state(SubscriptionStatus))


class StatsCountedMoney(Base):
    """A counted contact's revenue orders and revenue in one currency, as the statistics counted them."""

    __tablename__ = "stats_counted_money"
    __table_args__ = (PrimaryKeyConstraint("account_id", "contact_id", "currency"),)

    account_id: Mapped[int] = mapped_column(BigID)
    contact_id: Mapped[int] = mapped_column(BigID)
    currency: Mapped[str] = mapped_column(String(3))
    revenue_orders: Mapped[int]
    revenue: Mapped[Decimal]


class StatsCountedMoves(Base):
    """A contact that changed since the snapshot the 30-day change compares with, as last counted:
    whether it existed then, its group and subscription then and now, and whether it is deleted."""

    __tablename__ = "stats_counted_moves"
    __table_args__ = (PrimaryKeyConstraint("account_id", "contact_id"),)

    account_id: Mapped[int] = mapped_column(BigID)
    contact_id: Mapped[int] = mapped_column(BigID)
    existed: Mapped[bool]
    then_engagement: Mapped[EngagementStatus | None] = mapped_column(state(EngagementStatus))
    then_subscription: Mapped[SubscriptionStatus | None] = mapped_column(state(SubscriptionStatus))
    engagement_status: Mapped[EngagementStatus | None] = mapped_column(state(EngagementStatus))
    subscription_status: Mapped[SubscriptionStatus] = mapped_column(state(SubscriptionStatus))
    deleted: Mapped[bool]


class StatsBase(Base):
    """An account's counted contacts summed by (engagement, subscription[, currency]).

    `groups`: one object per (engagement, subscription, currency) with `contacts` (on the rows
    whose currency is null) or `orders`, `revenue` (a decimal string) and `buyers`, and one per
    `moved` combination (existed then, engagement and subscription then and now, deleted) with its
    `contacts`; always the sums of the account's `stats_counted`, `stats_counted_money` and
    `stats_counted_moves` rows. `rebuilt_at`: when every row was last counted afresh.
    """

    __tablename__ = "stats_bases"

    account_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    groups: Mapped[list[dict[str, Any]]]
    since: Mapped[datetime | None]  # the snapshot's time the moves are counted from (none: no snapshot)
    rebuilt_at: Mapped[datetime]
    folded_at: Mapped[datetime]
