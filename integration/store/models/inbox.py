"""The inbox: every delivery as received, before it is normalized into the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, InboxStatus, state
from integration.store.types import utcnow


class InboxDelivery(Base):
    """A raw delivery, unique per source and delivery id, kept until processed and after.

    A delivery is never dropped: processing failures leave it with its error and attempt count,
    and the sweeper re-enqueues pending rows whose job was lost.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id"),
        Index(None, "status", "received_at"),
        Index(None, "store_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("stores.id", ondelete="SET NULL"))
    email_source_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("email_sources.id", ondelete="SET NULL")
    )
    topic: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    triggered_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the receiver verified the delivery's signature before storing it (SendGrid, Shopify);
    # null when none was verified. A SendGrid delivery without it is never processed.
    signature_verified_at: Mapped[datetime | None]
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[InboxStatus] = mapped_column(state(InboxStatus), default=InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The outcome of processing: counts, and invalid records with their position and reason.
    result: Mapped[dict[str, Any] | None]
    processed_at: Mapped[datetime | None]
