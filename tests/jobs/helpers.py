"""Job functions used only by the queue tests (RQ imports them by dotted path)."""

from __future__ import annotations


def always_fails(reason: str) -> None:
    raise RuntimeError(reason)


def add(a: int, b: int) -> int:
    return a + b
