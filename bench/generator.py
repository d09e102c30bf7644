"""Filling a benchmark's store with set-based SQL, as the benchmarks that generate data share it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from integration.commerce import totals
from integration.store import session_scope


def run_generator(url: str, statements: Sequence[str], *, totals_of: int | None = 1) -> None:
    """Run the generator's statements in one transaction, then rebuild the buyers' totals of `totals_of`.

    Generated rows are consistent by construction, so per-row foreign-key triggers are skipped
    (`session_replication_role = replica`, which needs a superuser). The totals are what ingestion
    keeps per buyer and currency; None leaves them (a generator that writes no orders).
    """
    with session_scope(url) as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            session.execute(text(statement))
        if totals_of is not None:
            totals.rebuild(session, totals_of)
