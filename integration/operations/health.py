"""Readiness: is the database reachable, Redis reachable and the schema at this version's migration?

Each check has its own short-lived connections with short timeouts (a probe of a server that does
not answer gives up in seconds, never hangs on the pools the requests use) and answers "ok" or a
short reason that names no host, user or address. A change of a check's state is logged once.
"""

from __future__ import annotations

import logging
from functools import cache

import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from integration.settings import Settings
from integration.store.db import alembic_config
from integration.store.redis import connection

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0
DATABASE_CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest useful value: it rounds 1 up to 2
DATABASE_STATEMENT_TIMEOUT_MS = 2000
OK = "ok"
# A database migrated by a newer version (a rolling deploy's release step ran first) still serves
# this one: migrations add before they take away, so old processes stay in rotation until replaced.
AHEAD = "ok (database at a newer version's migration)"

_last_state: dict[str, str] = {}


@cache
def probe_engine(url: str) -> Engine:
    """Return an engine whose connections give up quickly; one connection per probe, none kept."""
    if url.startswith("sqlite"):
        # The app's engine takes SQLite's write lock at BEGIN and waits 30 s for it; a probe reads.
        return create_engine(url, poolclass=NullPool, connect_args={"timeout": 2}, hide_parameters=True)
    return create_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": DATABASE_CONNECT_TIMEOUT_SECONDS,
            "options": "-c TimeZone=UTC",
            "prepare_threshold": None,
        },
        hide_parameters=True,
    )


def probe_redis(settings: Settings) -> redis.Redis:
    """Return a Redis client that fails within a second and does not retry (the embedded one as is)."""
    if settings.redis_url is None:
        return connection(settings)  # a local socket in the instance folder
    return _probe_redis(settings.redis_url)


@cache
def _probe_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        single_connection_client=False,
    )


@cache
def head_revision() -> str | None:
    """Return the newest migration this version ships (read once per process)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@cache
def _known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(rev.revision for rev in script.walk_revisions())


def database_name(settings: Settings) -> str:
    """Name the store's kind as readiness reports it: postgres or sqlite."""
    return "sqlite" if settings.embedded_database else "postgres"


def readiness(settings: Settings) -> dict[str, str]:
    """Check the database, Redis and migrations; return each one's state ("ok" or why not)."""
    revision: str | None = None
    database = OK
    try:
        with probe_engine(settings.database_url).connect() as connection:
            if connection.dialect.name == "postgresql":
                # For this transaction only, not in the connection's startup `options`: PgBouncer
                # refuses a connection whose `options` set a parameter it does not track.
                timeout = {"ms": str(DATABASE_STATEMENT_TIMEOUT_MS)}
                connection.execute(text("SELECT set_config('statement_timeout', :ms, true)"), timeout)
            connection.execute(text("SELECT 1"))
            revision = MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        database = "timed out" if _timed_out(exc) else "unreachable"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        database = f"error ({type(exc).__name__})"
    if database != OK:
        migrations = "unknown: database not reachable"
    else:
        migrations = _migrations_state(revision)
    try:
        probe_redis(settings).ping()
        redis_state = OK
    except redis.TimeoutError:
        redis_state = "timed out"
    except redis.RedisError:
        redis_state = "unreachable"
    except Exception as exc:  # noqa: BLE001
        redis_state = f"error ({type(exc).__name__})"
    checks = {database_name(settings): database, "redis": redis_state, "migrations": migrations}
    _log_changes(checks)
    return checks


def ready(checks: dict[str, str]) -> bool:
    """Whether every check passed."""
    return all(state in (OK, AHEAD) for state in checks.values())


def _migrations_state(revision: str | None) -> str:
    head = head_revision()
    if revision == head:
        return OK
    if revision is None:
        return f"not migrated: run storepulse db upgrade (this version needs {head})"
    if revision not in _known_revisions():
        return AHEAD
    return f"behind: database at {revision}, this version needs {head} (run storepulse db upgrade)"


def _timed_out(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "timeout" in message or "timed out" in message or "canceling statement" in message


def _log_changes(checks: dict[str, str]) -> None:
    """Log a check's state when it changes, not at every probe of an outage."""
    for name, state in checks.items():
        if _last_state.get(name, OK) != state:
            (logger.info if state in (OK, AHEAD) else logger.warning)("readiness: %s is %s", name, state)
        _last_state[name] = state
