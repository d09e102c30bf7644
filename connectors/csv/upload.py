"""Uploaded CSV files kept in the store in parts, so that any worker on any machine can read them."""

from __future__ import annotations

import io

from sqlalchemy import select

from connectors.csv.reader import ByteStream
from integration.store import session_scope
from integration.store.models import ImportPart

PART_BYTES = 1024 * 1024


def save_parts(database_url: str, import_id: int, stream: ByteStream) -> int:
    """Store `stream` as the import's parts, a block at a time; return its size in bytes."""
    size, seq = 0, 0
    while block := stream.read(PART_BYTES) or b"":
        with session_scope(database_url) as session:
            session.add(ImportPart(import_id=import_id, seq=seq, data=block))
        size += len(block)
        seq += 1
    return size


class PartsReader(io.RawIOBase):
    """Read an import's stored parts back as one binary stream, holding one part at a time."""

    def __init__(self, database_url: str, import_id: int) -> None:
        self.database_url = database_url
        self.import_id = import_id
        self.seq = 0
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self.pending:
            with session_scope(self.database_url) as session:
                data = session.scalar(
                    select(ImportPart.data).where(
                        ImportPart.import_id == self.import_id, ImportPart.seq == self.seq
                    )
                )
            if data is None:
                return 0
            self.pending, self.seq = memoryview(data), self.seq + 1
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n
