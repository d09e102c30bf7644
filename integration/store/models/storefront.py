"""Storefront visitors (a browser seen by the Shopify pixel or the tracking snippet) and their
interactions kept until the visitor is tied to a contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, InteractionType, state
from integration.store.types import utcnow


class Visitor(Base):
    """A browser on one store's storefront: Shopify's `clientId`, or the snippet's first-party id.

    It is tied to a contact when one of its events names a known customer (a logged-in customer or
    a completed checkout's) or a checkout the store knows: `tied_by` says which. A customer id or a
    checkout token not known yet is kept (`customer_ref`, `checkout_token`), so the tie is made when
    that customer or checkout arrives.
    """

    __tablename__ = "visitors"
    __table_args__ = (
        UniqueConstraint("store_id", "key"),
        Index(None, "store_id", "customer_ref"),
        Index(None, "store_id", "checkout_token"),
        Index(None, "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="SET NULL"))
    tied_by: Mapped[str | None] = mapped_column(String(16))
    tied_at: Mapped[datetime | None]
    customer_ref: Mapped[str | None] = mapped_column(String(100))
    checkout_token: Mapped[str | None] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class VisitorEvent(Base):
    """An interaction of a visitor not tied to a contact yet, kept for the engagement time frame.

    Once the visitor is tied it becomes the contact's interaction event (and is counted then); one
    older than the time frame could no longer make anyone engaged and is dropped. `dedupe_key` is
    the interaction event's id to be: one per visitor, type and minute.
    """

    __tablename__ = "visitor_events"
    __table_args__ = (
        UniqueConstraint("store_id", "dedupe_key"),
        Index(None, "visitor_id"),
        Index(None, "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(BigID, ForeignKey("visitors.id", ondelete="CASCADE"))
    type: Mapped[InteractionType] = mapped_column(state(InteractionType))
    occurred_at: Mapped[datetime]
    dedupe_key: Mapped[str] = mapped_column(String(255))
    product_id: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
