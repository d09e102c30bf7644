"""What connecting a platform adds: backfills of pre-existing data and data requests for merchants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import BackfillStatus, Base, BigID, state
from integration.store.types import utcnow


class Backfill(Base):
    """One stage (customers, orders, checkouts) of reading a store's existing data in bulk.

    `status` goes `pending` → `starting` → `running` → `importing` → `completed` (or `failed`); a
    worker claims a stage by moving it on with a conditional update, so two workers never start
    or import the same stage. `operation_id` is the platform's id of the bulk read, so a finish
    notification or a poll finds its stage. A stage read page by page instead keeps its place in
    `page`, written with each page's records, so it resumes where it stopped.
    """

    __tablename__ = "backfills"
    __table_args__ = (Index(None, "store_id", "started_at"), Index(None, "operation_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[BackfillStatus] = mapped_column(state(BackfillStatus, 16), default=BackfillStatus.PENDING)
    operation_id: Mapped[str | None] = mapped_column(String(255))
    # A stage read page by page (WooCommerce): the next page to read, and the count the platform
    # last gave; both None for a bulk read (Shopify).
    page: Mapped[int | None]
    pages: Mapped[int | None]
    records: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DataExport(Base):
    """Everything stored about one customer, prepared for the merchant after a data request."""

    __tablename__ = "data_exports"
    # One export per request: the same request delivered again (another webhook id) finds it.
    __table_args__ = (Index(None, "account_id", "created_at"), UniqueConstraint("store_id", "request_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("stores.id", ondelete="SET NULL"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    customer_external_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="SET NULL"))
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
