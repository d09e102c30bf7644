"""RFM scores and spender tiers of the contacts who ordered, recomputed per account by a job."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID


class RfmScore(Base):
    """One buyer's recency, frequency and money with their 1–5 scores, segment and spender tiers."""

    __tablename__ = "rfm_scores"
    __table_args__ = (Index(None, "account_id", "segment"), Index(None, "account_id", "spender_tier"))

    # Derived rows, rewritten whole by each computation from orders that reference their contacts:
    # no foreign keys, whose per-row checks would cost more than the computation itself.
    contact_id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID)
    last_order_at: Mapped[datetime]
    frequency: Mapped[int]
    monetary: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    r: Mapped[int]
    f: Mapped[int]
    m: Mapped[int]
    segment: Mapped[str] = mapped_column(String(60))
    spender_tier: Mapped[str] = mapped_column(String(20))
    frequent_buyer: Mapped[bool]
    computed_at: Mapped[datetime]


class RfmSummary(Base):
    """An account's RFM scores summed by cell, segment, currency and tier, as last computed.

    Written by each computation with the scores, so the overview and its grid answer from a few
    sums whatever the number of buyers; `computed_at` says how current they are.
    """

    __tablename__ = "rfm_summaries"

    account_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    payload: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime]
