"""Spend per contact and calendar period, kept current as orders arrive, for the loyalty leaderboard."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID


class ContactPeriodSpend(Base):
    """A contact's orders in one calendar period (week, month, quarter, year) and one currency.

    `store_id` 0 is the whole account, with periods in the account's time zone; a store's own
    rows use the store's time zone. Period keys: `w2026-47` (ISO week), `m2026-11`, `q2026-4`,
    `y2026`.
    """

    __tablename__ = "contact_period_spend"
    __table_args__ = (
        PrimaryKeyConstraint("account_id", "store_id", "period", "currency", "contact_id"),
        # Ranked by a metric, ties by contact (both descending): the top rows and the customers tied
        # with the last one shown come straight from an index, however many share a value.
        Index(None, "account_id", "store_id", "period", "currency", "revenue", "contact_id"),
        Index(None, "account_id", "store_id", "period", "currency", "purchases", "contact_id"),
        Index(None, "account_id", "store_id", "period", "currency", "average", "contact_id"),
        Index(None, "contact_id"),
    )

    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(BigID)
    period: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    purchases: Mapped[int]
    revenue_orders: Mapped[int]
    revenue: Mapped[Decimal]
    average: Mapped[Decimal]
    last_order_at: Mapped[datetime]


class PeriodCurrency(Base):
    """How many contacts have spend rows in one period and currency: the leaderboard's default currency.

    Kept beside `ContactPeriodSpend` as its rows change and recounted whole when it is rebuilt or
    pruned, so choosing the currency is one indexed read instead of a count of the period's rows.
    """

    __tablename__ = "period_currencies"
    __table_args__ = (PrimaryKeyConstraint("account_id", "store_id", "period", "currency"),)

    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(BigID)
    period: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    contacts: Mapped[int]
