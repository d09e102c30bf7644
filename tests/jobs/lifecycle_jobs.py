"""Job functions used only by the process lifecycle tests (RQ imports them by dotted path)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from integration.settings import get_settings
from integration.store import session_scope
from integration.store.models import Store


def sleep_job(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def count_stores_job() -> int:
    """Read the store: fails while the database is unreachable."""
    with session_scope(get_settings().database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Store)) or 0)
