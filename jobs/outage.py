"""Riding out a Redis or PostgreSQL outage: probes, capped back-off with jitter, one line per change.

The worker and the scheduler wait for a server that went away instead of dying: they probe it
with a back-off of 1 s doubling up to 30 s (each wait drawn at random between half and all of it,
so that many processes do not knock at the same moment), log once when it goes ("redis
unreachable, waiting") and once when it is back ("redis back after 42 s"), and carry on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import redis
from sqlalchemy import exc, text

from integration.operations.health import probe_engine

logger = logging.getLogger(__name__)

FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0

REDIS_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


class Backoff:
    """Waits that double from `first` up to `cap` seconds, each drawn between half and all of it."""

    def __init__(self, first: float = FIRST_WAIT_SECONDS, cap: float = MAX_WAIT_SECONDS) -> None:
        self.first, self.cap = first, cap
        self.current = first

    def next(self) -> float:
        """Return the next wait in seconds."""
        wait = self.current
        self.current = min(self.current * 2, self.cap)
        return random.uniform(wait / 2, wait)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        """Start again from the first wait (the server answered)."""
        self.current = self.first


class Outage:
    """One server's reachability as a process sees it; logs only when it changes."""

    def __init__(self, name: str, log: logging.Logger = logger) -> None:
        self.name = name
        self.log = log
        self.since: float | None = None  # monotonic time the outage began, None while reachable

    @property
    def down(self) -> bool:
        return self.since is not None

    def lost(self, error: BaseException | str) -> None:
        """Record that the server did not answer (logged on the first failure only)."""
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s unreachable, waiting: %s", self.name, error)

    def back(self) -> float | None:
        """Record that the server answered; return how long it was away (None if it was not)."""
        if self.since is None:
            return None
        away = time.monotonic() - self.since
        self.since = None
        self.log.warning("%s back after %.0f s", self.name, away)
        return away


def redis_reachable(client: redis.Redis) -> str | None:
    """Ping Redis; return None when it answers, else why not."""
    try:
        client.ping()
    except redis.RedisError as error:
        return str(error) or type(error).__name__
    return None


def database_reachable(url: str) -> str | None:
    """Open a fresh connection to the store and run SELECT 1; return None when it answers, else why not.

    A fresh connection (not one of the pool's) with short limits: the answer is about the server
    now, and a dropped network does not hang the probe.
    """
    if url.startswith("sqlite"):
        return None  # a local file: there is no server to lose
    engine = probe_engine(url)  # the readiness probe's: short connect and statement limits
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except exc.SQLAlchemyError as error:
        return str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


def database_unreachable_error(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a lost or refused database connection."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, exc.DBAPIError) and (
            current.connection_invalidated or isinstance(current, exc.OperationalError | exc.InterfaceError)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def wait_until_reachable(
    outage: Outage,
    probe: Callable[[], str | None],
    stop: threading.Event,
    while_waiting: Callable[[], None] = lambda: None,
) -> bool:
    """Probe with back-off until the server answers (True) or `stop` is set (False).

    `while_waiting` runs between probes (a heartbeat), and may raise to end the wait.
    """
    backoff = Backoff()
    while not stop.is_set():
        problem = probe()
        if problem is None:
            outage.back()
            return True
        outage.lost(problem)
        while_waiting()
        stop.wait(backoff.next())
    return False
