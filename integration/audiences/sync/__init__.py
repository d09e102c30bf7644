"""Sync back: keep a segment in step with a destination, sending only the difference.

`plan` works out the difference, `run` sends it through a destination client and `record` keeps
each contact's outcome. A new sync is made paused, so that its first run (every member an add) can
be previewed before it is started. Jobs, views and the CLI use the names below.
"""

from __future__ import annotations

from integration.audiences.sync.plan import counts, digest_of, plan, plan_page, preview
from integration.audiences.sync.record import MAX_ATTEMPTS, describe_run
from integration.audiences.sync.run import DestinationFactory, claim, run
from integration.errors import RequestRefused

__all__ = [
    "MAX_ATTEMPTS",
    "DestinationFactory",
    "SyncError",
    "claim",
    "counts",
    "describe_run",
    "digest_of",
    "plan",
    "plan_page",
    "preview",
    "run",
]


class SyncError(RequestRefused, ValueError):
    """A sync cannot be set up as asked; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason)
