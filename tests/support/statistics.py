"""How often PostgreSQL analyzed tables: what a test of the planner's statistics counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import text

from integration.store import session_scope


def analyze_counts(database_url: str, tables: Iterable[str]) -> dict[str, int]:
    """Each table's count of `ANALYZE`s run on it so far (autovacuum's are counted apart), read
    afresh: the statistics views keep what a transaction first read of them until told to forget."""
    with session_scope(database_url) as session:
        session.execute(text("SELECT pg_stat_clear_snapshot()"))
        return dict(
            session.execute(
                text("SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
                {"tables": list(tables)},
            ).all()
        )


def record_analyses(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The tables of each `ANALYZE` that `KeptStatistics` runs from now on, in order; each still
    runs. (Counting the server's analyses instead would miss one that `SKIP_LOCKED` skipped because
    autovacuum held the table at that moment.)"""
    from integration.store import statistics

    analyses: list[list[str]] = []
    run = statistics.run_committed_rows

    def recording(url: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        analyses.append(sql.removeprefix("ANALYZE (SKIP_LOCKED) ").split(", "))
        return run(url, sql, params)

    monkeypatch.setattr(statistics, "run_committed_rows", recording)
    return analyses
