"""Segment exports: a CSV file of a segment's members, written by a job in constant memory.

The file is UTF-8 with a byte-order mark, so spreadsheet programs read accents right; a cell that
begins with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so that no
spreadsheet runs it as a formula. Members are read with a server-side cursor and the file is
written in parts of EXPORT_PART_BYTES into the store, so any web process can serve it and memory
stays flat however large the segment. A download link carries a signed token that expires.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from integration import notifications
from integration.audiences import segments
from integration.errors import NotFound
from integration.store import session_scope
from integration.store.models import (
    Contact,
    ExportPart,
    ExportStatus,
    NotificationKind,
    RfmScore,
    SegmentExport,
    SegmentMember,
    table_of,
)
from integration.store.types import utcnow

EXPORT_PART_BYTES = 1 << 20
LINK_SECONDS = 24 * 60 * 60
FETCH_ROWS = 2_000
BOM = "\ufeff"
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "contact_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "subscription_status",
    "engagement_status",
    "blocked_reason",
    "last_interaction_at",
    "tags",
    "rfm_segment",
    "spender_tier",
    "member_since",
)


def safe_cell(value: Any) -> str:
    """A cell's text with formula injection neutralized (a leading `'` before a dangerous start)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(DANGEROUS_STARTS) else text


def request_export(
    session: Session, account_id: int, segment_id: int, requested_by: int | None = None
) -> SegmentExport:
    """Record an export of the segment to be written; `requested_by` (a user) is told when it is done."""
    segment = segments.get(session, account_id, segment_id)
    export = SegmentExport(
        account_id=account_id, segment_id=segment.id, segment_name=segment.name, requested_by=requested_by
    )
    session.add(export)
    session.flush()
    return export


def write_export(database_url: str, export_id: int) -> int:
    """Refresh the segment, then write its members as CSV parts; return the rows written."""
    with session_scope(database_url) as session:
        export = session.get(SegmentExport, export_id)
        if export is None or export.status == ExportStatus.FINISHED:
            return 0
        export.status = ExportStatus.RUNNING
        segment_id = export.segment_id
        session.execute(delete(ExportPart).where(ExportPart.export_id == export_id))
        if segment_id is not None:
            segments.refresh(session, segment_id)
    rows = 0
    size = 0
    seq = 0
    try:
        # One session reads (a server-side cursor) and writes the parts: SQLite has one writer.
        with session_scope(database_url) as session:
            parts_table = table_of(ExportPart)
            for block, count in _blocks(session, segment_id):
                session.execute(parts_table.insert().values(export_id=export_id, seq=seq, data=block))
                seq += 1
                rows += count
                size += len(block)
    except Exception as exc:
        with session_scope(database_url) as session:
            export = session.get(SegmentExport, export_id)
            if export is not None:
                export.status, export.error = ExportStatus.FAILED, repr(exc)[:2000]
                _tell(session, export, NotificationKind.EXPORT_FAILED)
        raise
    with session_scope(database_url) as session:
        export = session.get(SegmentExport, export_id)
        if export is not None:
            export.status, export.finished_at = ExportStatus.FINISHED, utcnow()
            export.rows, export.bytes = rows, size
            _tell(session, export, NotificationKind.EXPORT_READY)
    return rows


def _tell(session: Session, export: SegmentExport, kind: NotificationKind) -> None:
    """Tell whoever asked for the export (or the account) that it is ready or failed."""
    notifications.notify(
        session,
        export.account_id,
        kind,
        f"export:{export.id}",
        {"export_id": export.id, "segment": export.segment_name, "rows": export.rows},
        user_id=export.requested_by,
    )


def _blocks(session: Session, segment_id: int | None) -> Iterator[tuple[bytes, int]]:
    """Yield the file in blocks of about EXPORT_PART_BYTES, with how many rows each holds."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    buffer.write(BOM)
    out.writerow(COLUMNS)
    rows_in_block = 0
    if segment_id is not None:
        query = (
            select(
                Contact.id,
                Contact.email,
                Contact.first_name,
                Contact.last_name,
                Contact.phone,
                Contact.subscription_status,
                Contact.engagement_status,
                Contact.blocked_reason,
                Contact.last_interaction_at,
                Contact.tags,
                RfmScore.segment,
                RfmScore.spender_tier,
                SegmentMember.since,
            )
            .join(SegmentMember, SegmentMember.contact_id == Contact.id)
            .outerjoin(RfmScore, RfmScore.contact_id == Contact.id)
            .where(SegmentMember.segment_id == segment_id)
            .order_by(Contact.id)
            .execution_options(yield_per=FETCH_ROWS)
        )
        for row in session.execute(query):
            out.writerow([safe_cell(_plain(v)) for v in row])
            rows_in_block += 1
            if buffer.tell() >= EXPORT_PART_BYTES:
                yield buffer.getvalue().encode("utf-8"), rows_in_block
                buffer.seek(0)
                buffer.truncate()
                rows_in_block = 0
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8"), rows_in_block


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return getattr(value, "value", value)


def list_exports(session: Session, account_id: int, secret_key: str) -> list[dict[str, Any]]:
    """The account's exports, newest first; finished ones with a download link valid for a day."""
    rows = session.scalars(
        select(SegmentExport).where(SegmentExport.account_id == account_id).order_by(SegmentExport.id.desc())
    )
    return [describe(e, secret_key) for e in rows]


def download_link(export: SegmentExport, secret_key: str) -> str | None:
    """A finished export's download link, valid for LINK_SECONDS from now; None before it is finished."""
    if export.status != ExportStatus.FINISHED:
        return None
    return f"/exports/{_signer(secret_key).dumps({'export': export.id, 'account': export.account_id})}"


def describe(export: SegmentExport, secret_key: str) -> dict[str, Any]:
    link = download_link(export, secret_key)
    return {
        "id": export.id,
        "segment_id": export.segment_id,
        "segment": export.segment_name,
        "status": export.status,
        "rows": export.rows,
        "bytes": export.bytes,
        "error": export.error,
        "created_at": export.created_at.isoformat(),
        "finished_at": export.finished_at.isoformat() if export.finished_at else None,
        "download": link,
        "link_expires_in_seconds": LINK_SECONDS if link else None,
    }


class LinkInvalid(NotFound):
    """The download link is forged, for another export, or expired."""


def resolve_link(secret_key: str, token: str) -> int:
    """The export a download link names; LinkInvalid when it is forged or older than LINK_SECONDS."""
    try:
        data = _signer(secret_key).loads(token, max_age=LINK_SECONDS)
    except SignatureExpired as exc:
        raise LinkInvalid("the link expired; list the exports for a new one") from exc
    except BadSignature as exc:
        raise LinkInvalid("not a download link") from exc
    return int(data["export"])


def parts(database_url: str, export_id: int) -> Iterator[bytes]:
    """Stream an export's file part by part (one part in memory at a time)."""
    with session_scope(database_url) as session:
        count = session.scalar(select(func.count()).where(ExportPart.export_id == export_id)) or 0
    for seq in range(count):
        with session_scope(database_url) as session:
            part = session.get(ExportPart, (export_id, seq))
            if part is None:
                return
            data = part.data
        yield data


def _signer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="storepulse-export")
