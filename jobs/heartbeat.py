"""Heartbeats of the worker and scheduler processes: their state in Redis, with an expiry.

Each process writes one key every HEARTBEAT_SECONDS from a thread of its own (a long job does not
hold it up): its kind, state (`running`, `waiting for redis`, `waiting for database`, `stopping`),
pid, host, since when it is in that state and its last job. The key expires HEARTBEAT_TTL_SECONDS
after the last beat, so a process that died or cannot reach Redis drops out of
`storepulse status` by itself. Every HEARTBEAT_LOG_SECONDS the process also logs one line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL_SECONDS = 45
HEARTBEAT_LOG_SECONDS = 5 * 60
KEY_PREFIX = "storepulse:process:"

RUNNING = "running"
WAITING_FOR_REDIS = "waiting for redis"
WAITING_FOR_DATABASE = "waiting for database"
STOPPING = "stopping"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Heartbeat:
    """A process's record in Redis, refreshed by a daemon thread; Redis errors are ignored here
    (the process's own loop notices and reports an outage)."""

    def __init__(self, client: redis.Redis, kind: str, log: logging.Logger = logger) -> None:
        self.client = client
        self.kind = kind
        self.log = log
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.key = f"{KEY_PREFIX}{kind}:{self.host}:{self.pid}"
        self.state = RUNNING
        self.since = _now()
        self.started = self.since
        self.jobs = 0
        self.job: str | None = None  # the job under way
        self.last_job: str | None = None
        self.last_job_at: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self) -> dict[str, Any]:
        """Return what the heartbeat says of this process."""
        with self._lock:
            return {
                "kind": self.kind,
                "state": self.state,
                "pid": self.pid,
                "host": self.host,
                "since": self.since,
                "started": self.started,
                "job": self.job,
                "jobs": self.jobs,
                "last_job": self.last_job,
                "last_job_at": self.last_job_at,
            }

    def set_state(self, state: str) -> None:
        """Enter `state` (beats at once, so that `storepulse status` sees the change)."""
        with self._lock:
            if state == self.state:
                return
            self.state, self.since = state, _now()
        self.beat()

    def job_started(self, name: str) -> None:
        with self._lock:
            self.job = name

    def job_ended(self) -> None:
        with self._lock:
            if self.job is not None:
                self.last_job, self.last_job_at = self.job, _now()
                self.jobs += 1
            self.job = None

    def beat(self) -> None:
        """Write the record with its expiry; quietly skip it while Redis is unreachable."""
        try:
            self.client.set(self.key, json.dumps(self.record()), ex=HEARTBEAT_TTL_SECONDS)
        except redis.RedisError:
            pass

    def start(self) -> None:
        """Beat now and every HEARTBEAT_SECONDS until `stop()`."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        logged = time.monotonic()
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.beat()
            if time.monotonic() - logged >= HEARTBEAT_LOG_SECONDS:
                logged = time.monotonic()
                r = self.record()
                self.log.info(
                    "heartbeat: %s %s since %s, %d jobs, last %s at %s",
                    self.kind,
                    r["state"],
                    r["since"],
                    r["jobs"],
                    r["last_job"] or "none",
                    r["last_job_at"] or "-",
                )

    def stop(self) -> None:
        """Stop beating and remove the record (the process is leaving)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass


def live_processes(client: redis.Redis) -> list[dict[str, Any]]:
    """Return the records of the worker and scheduler processes that beat recently."""
    keys = sorted(client.scan_iter(match=f"{KEY_PREFIX}*", count=500))
    if not keys:
        return []
    records = []
    for raw in client.mget(keys):
        if raw is not None:  # expired between the scan and the read
            records.append(json.loads(raw))
    return sorted(records, key=lambda r: (r["kind"], r["host"], r["pid"]))
