"""How often PostgreSQL analyzed tables: what a test of the planner's statistics counts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text

from integration.store import session_scope


def analyze_counts(database_url: str, tables: Iterable[str]) -> dict[str, int]:
    """Each table's count of analyses so far (by anyone), read afresh: the statistics views keep
    what a transaction first read of them until they are told to forget it."""
    with session_scope(database_url) as session:
        session.execute(text("SELECT pg_stat_clear_snapshot()"))
        return dict(
            session.execute(
                text("SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
                {"tables": list(tables)},
            ).all()
        )
