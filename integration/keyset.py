"""Opaque cursors of lists read newest first by a time and an id (keyset pages, no offsets)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from integration.errors import RequestRefused
from integration.store.types import MAX_ID


class BadCursor(RequestRefused, ValueError):
    """The cursor was not one this list gave out (or not for this sort)."""

    reason = "invalid_cursor"


def encode(at: datetime, row_id: int) -> str:
    """The cursor of the page after the row with this time and id."""
    return pack([at.isoformat(), row_id])


def decode(cursor: str) -> tuple[datetime, int]:
    """The time (UTC) and id a cursor names; BadCursor if it is not one `encode` made."""
    try:
        at, row_id = unpack(cursor)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        moment = moment.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise BadCursor("not a cursor of this list") from exc
    if type(row_id) is not int or not 0 <= row_id <= MAX_ID:
        raise BadCursor("not a cursor of this list")
    return moment, row_id


def pack(payload: list[Any]) -> str:
    """A cursor holding these JSON values (URL-safe, no padding)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def unpack(cursor: str) -> Any:
    """The JSON values a cursor holds; ValueError or binascii.Error if it holds none."""
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
