"""Notifications: what happened that the account's people should know, and who has read each one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, state
from integration.store.types import utcnow


class NotificationKind(StrEnum):
    EXPORT_READY = "export_ready"
    EXPORT_FAILED = "export_failed"
    SYNC_STOPPED = "sync_stopped"
    IMPORT_FINISHED = "import_finished"
    IMPORT_FAILED = "import_failed"
    STORE_DISCONNECTED = "store_disconnected"
    JOB_FAILED = "job_failed"


class Notification(Base):
    """One event for one user of an account, or (user_id None) for everyone who looks at it."""

    __tablename__ = "notifications"
    __table_args__ = (Index(None, "account_id", "id"), Index(None, "account_id", "kind", "subject"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(state(NotificationKind, 32))
    # What it is about, as "<thing>:<id>" (export:12, sync:3): an unread one is not repeated.
    subject: Mapped[str] = mapped_column(String(64))
    # The ids and counts the text and the link are made of when it is read (links expire).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How many times it happened while nobody had read it.
    occurrences: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationRead(Base):
    """A reader's having read a notification: "user:<id>", "shopify:<staff id>" or "key:<id>"."""

    __tablename__ = "notification_reads"
    __table_args__ = (PrimaryKeyConstraint("notification_id", "reader"),)

    notification_id: Mapped[int] = mapped_column(BigID, ForeignKey("notifications.id", ondelete="CASCADE"))
    reader: Mapped[str] = mapped_column(String(80))
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
