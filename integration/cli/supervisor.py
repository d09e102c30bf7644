"""The process supervisor of `storepulse serve`: web, job workers and scheduler, started and stopped together.

It migrates the schema and starts (or joins) the embedded Redis first, so that every process it
starts finds both; then it runs until Ctrl-C or SIGTERM, or until one of its processes exits, and
stops the rest, giving each worker its shutdown grace to finish or give back the job under way.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from integration.cli.common import console
from integration.settings import Settings
from integration.store.db import upgrade
from integration.store.redis import connection

POLL_SECONDS = 0.5  # how often the supervisor looks whether a process exited
STOP_SLACK_SECONDS = 10  # beyond the shutdown grace, before a process that does not stop is killed
WEB_WORKERS = 2  # gunicorn processes serving requests
WEB_THREADS = 4  # requests each serves at once (webhook deliveries arriving together are stored together)


def supervise(settings: Settings, host: str, port: int | None, worker_count: int) -> None:
    """Run web, `worker_count` job workers and the scheduler until Ctrl-C; then stop them all."""
    upgrade(settings.database_url)
    connection(settings).ping()  # starts the embedded Redis first, so every process joins it
    port = port or settings.port
    children = [subprocess.Popen(c) for c in commands(host, port, worker_count)]
    console.print(f"storepulse is up at [bold]http://{host}:{port}[/] — Ctrl-C stops it")
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(POLL_SECONDS)
    finally:
        _stop_all(children, settings.shutdown_grace_seconds + STOP_SLACK_SECONDS)


def commands(host: str, port: int, worker_count: int) -> list[list[str]]:
    """The command lines of the web server, the job workers and the scheduler."""
    me = [sys.executable, "-m", "integration.cli"]
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:integration.web.serving",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(WEB_WORKERS),
        "--threads",
        str(WEB_THREADS),
        "--access-logfile",
        "-",
        "--logger-class",
        "integration.web.access_log.AccessLogger",
        "integration.web.app:create_app()",
    ]
    return [web, *([*me, "worker"] for _ in range(worker_count)), [*me, "scheduler"]]


def _stop_all(children: list[subprocess.Popen[bytes]], timeout_seconds: float) -> None:
    """Ask every process still running to stop; kill one that is not gone within `timeout_seconds`."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            # A worker may take its shutdown grace to finish (or give back) the job under way.
            child.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            child.kill()
