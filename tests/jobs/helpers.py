"""Job functions used only by the queue tests (RQ imports them by dotted path)."""

from __future__ import annotations

from pathlib import Path


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
