"""Job functions of the tests' own: queue and process lifecycle tests (RQ imports them by dotted path)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from integration.settings import get_settings
from integration.store import session_scope
from integration.store.models import Store


def always_fails(reason: str) -> None:
    raise RuntimeError(reason)


def add(a: int, b: int) -> int:
    return a + b


def fails() -> None:
    raise RuntimeError("database unavailable")


def fails_once(marker: str) -> str:
    """Fail the first time (leaving a marker file), succeed the next."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        raise RuntimeError("first try fails")
    return "second try"


def sleep_job(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def count_stores_job() -> int:
    """Read the store: fails while the database is unreachable."""
    with session_scope(get_settings().database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Store)) or 0)


def store_job_fails(store_id: int) -> None:
    raise RuntimeError(f"store {store_id} could not be read")
