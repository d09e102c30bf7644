"""Removal markers: what a platform deleted or a customer had erased, kept even for ids never seen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, state
from integration.store.types import utcnow


class RemovalKind(StrEnum):
    CUSTOMER = "customer"
    ORDER = "order"


class RemovalReason(StrEnum):
    DELETED = "deleted"
    REDACTED = "redacted"


class Removal(Base):
    """A store's customer or order that was deleted (at `removed_at`) or redacted.

    Deliveries come in any order, so a deletion may arrive before the record it removes. A version
    of a deleted customer updated at or before `removed_at` changes nothing; a deleted order never
    comes back; a redacted customer or order never brings its personal data back, whatever its time.
    """

    __tablename__ = "removals"
    __table_args__ = (UniqueConstraint("store_id", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    kind: Mapped[RemovalKind] = mapped_column(state(RemovalKind))
    external_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[RemovalReason] = mapped_column(state(RemovalReason))
    removed_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
