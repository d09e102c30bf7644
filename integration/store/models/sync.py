"""Saved segments, sync destinations, syncs and what each sync last delivered per contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import (
    Base,
    BigID,
    DestinationKind,
    ExportStatus,
    SyncMode,
    SyncRunStatus,
    SyncStatus,
    state,
)
from integration.store.types import utcnow


class Segment(Base):
    """A saved view of contacts: a validated filter in the one filter language."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    predefined: Mapped[bool] = mapped_column(default=False)
    # For predefined segments: what they stand for (engaged_subscribed, sunset, rfm:Champions, tier:big…).
    key: Mapped[str | None] = mapped_column(String(80))
    members_count: Mapped[int] = mapped_column(default=0, server_default="0")
    refreshed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SegmentMember(Base):
    """A contact in a segment as of the segment's last refresh, and since when."""

    __tablename__ = "segment_members"
    __table_args__ = (PrimaryKeyConstraint("segment_id", "contact_id"), Index(None, "contact_id"))

    segment_id: Mapped[int] = mapped_column(BigID, ForeignKey("segments.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(default=utcnow)


class SegmentChange(Base):
    """A contact entering or leaving a segment, when, and why (the segment edited, or the data changed)."""

    __tablename__ = "segment_changes"
    __table_args__ = (Index(None, "segment_id", "at"), Index(None, "contact_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    segment_id: Mapped[int] = mapped_column(BigID, ForeignKey("segments.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    change: Mapped[str] = mapped_column(String(8))  # entered | left
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(32))


class Destination(Base):
    """Where results go: the platform's customer tags, an email tool's audience or a signed webhook."""

    __tablename__ = "destinations"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[DestinationKind] = mapped_column(state(DestinationKind))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sync(Base):
    """A segment kept in step with a destination, as tags or as an audience."""

    __tablename__ = "syncs"
    __table_args__ = (UniqueConstraint("segment_id", "destination_id"), Index(None, "account_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    segment_id: Mapped[int] = mapped_column(BigID, ForeignKey("segments.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(BigID, ForeignKey("destinations.id", ondelete="CASCADE"))
    mode: Mapped[SyncMode] = mapped_column(state(SyncMode))
    # Per sync: the tag written (tags mode), what happens to members who leave (audience mode), and
    # what the destination told us to remember (a Mailchimp tag's segment id).
    config: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[SyncStatus] = mapped_column(
        state(SyncStatus, 16), default=SyncStatus.IDLE, server_default=SyncStatus.IDLE.value
    )
    run_started_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_run_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """What a sync last delivered for one contact (a digest of it), so a run sends only the difference."""

    __tablename__ = "sync_states"
    __table_args__ = (
        PrimaryKeyConstraint("sync_id", "contact_id"),
        Index(None, "contact_id"),
    )

    sync_id: Mapped[int] = mapped_column(BigID, ForeignKey("syncs.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigID, ForeignKey("contacts.id", ondelete="CASCADE"))
    # Digest of what was delivered; NULL while a delivery is owed (a failure is retried next run).
    digest: Mapped[str | None] = mapped_column(String(64))
    # Whether the contact is in the destination's audience (or carries the tag) as far as we know.
    member: Mapped[bool] = mapped_column(default=False, server_default=false())
    # What a removal needs later: the address delivered and the destination's own id for the contact.
    address: Mapped[str | None] = mapped_column(String(320))
    remote_id: Mapped[str | None] = mapped_column(String(128))
    delivered_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)


class SyncRun(Base):
    """One run of a sync: what it sent, what failed, how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index(None, "sync_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    sync_id: Mapped[int] = mapped_column(BigID, ForeignKey("syncs.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[SyncRunStatus] = mapped_column(state(SyncRunStatus, 16), default=SyncRunStatus.RUNNING)
    adds: Mapped[int] = mapped_column(default=0)
    updates: Mapped[int] = mapped_column(default=0)
    removes: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # A sample of the per-contact errors: [{"contact_id", "action", "error"}].
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)


class SegmentExport(Base):
    """A CSV file of a segment's members, written by a job in parts (any web process can serve it)."""

    __tablename__ = "segment_exports"
    __table_args__ = (Index(None, "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("accounts.id", ondelete="CASCADE"))
    segment_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("segments.id", ondelete="SET NULL"))
    segment_name: Mapped[str] = mapped_column(String(200))
    # The user who asked for it (told when it is ready); None: an API key, or the account as a whole.
    requested_by: Mapped[int | None] = mapped_column(BigID, ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[ExportStatus] = mapped_column(state(ExportStatus, 16), default=ExportStatus.QUEUED)
    rows: Mapped[int] = mapped_column(default=0)
    bytes: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ExportPart(Base):
    """A block of an export's file, in order."""

    __tablename__ = "export_parts"
    __table_args__ = (PrimaryKeyConstraint("export_id", "seq"),)

    export_id: Mapped[int] = mapped_column(BigID, ForeignKey("segment_exports.id", ondelete="CASCADE"))
    seq: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
