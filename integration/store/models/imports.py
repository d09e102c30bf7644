"""CSV imports: the uploaded file (in parts, so any worker can read it) and the import's progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from integration.store.models.base import Base, BigID, ImportStatus, state
from integration.store.types import utcnow


class Import(Base):
    """One CSV file imported into a store, with its counts and its report of bad rows."""

    __tablename__ = "imports"
    __table_args__ = (Index(None, "store_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigID, ForeignKey("stores.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str | None] = mapped_column(String(16))
    layout: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[ImportStatus] = mapped_column(state(ImportStatus), default=ImportStatus.QUEUED)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_read: Mapped[int] = mapped_column(default=0)
    records_written: Mapped[int] = mapped_column(default=0)
    records_unchanged: Mapped[int] = mapped_column(default=0)
    # Records already stored as they are (a file imported again), apart from older versions.
    records_duplicate: Mapped[int] = mapped_column(default=0, server_default="0")
    rows_failed: Mapped[int] = mapped_column(default=0)
    # Bad rows: row number, column and reason; the first MAX_REPORTED of them.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportPart(Base):
    """A block of an uploaded file, stored in order."""

    __tablename__ = "import_parts"
    __table_args__ = (PrimaryKeyConstraint("import_id", "seq"),)

    import_id: Mapped[int] = mapped_column(BigID, ForeignKey("imports.id", ondelete="CASCADE"))
    seq: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
