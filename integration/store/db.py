"""Engines, sessions and migrations for PostgreSQL and the embedded SQLite file; an account's row by id."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from integration.store.types import SQLITE_LOWER, python_lower

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle for longer than this is pinged (a round trip) before use; one
# returned to the pool more recently is checked without one (see `_check_on_checkout`).
PING_IDLE_SECONDS = 10.0


_engines: dict[str, Engine] = {}


class AccountRow(Protocol):
    @property
    def account_id(self) -> int: ...


R = TypeVar("R", bound=AccountRow)


def account_row(session: Session, model: type[R], row_id: int, account_id: int) -> R | None:
    """The row of `model` with this id when it is the account's; None otherwise (another account's
    row does not exist for this one)."""
    row = session.get(model, row_id)
    return row if row is not None and row.account_id == account_id else None


def required_account_row(session: Session, model: type[R], row_id: int, account_id: int, name: str) -> R:
    """The row of `model` with this id when it is the account's; LookupError ("no <name> <id>") otherwise."""
    row = account_row(session, model, row_id, account_id)
    if row is None:
        raise LookupError(f"no {name} {row_id}")
    return row


def get_engine(url: str) -> Engine:
    """Return this process's engine for `url` (one pool per process and URL)."""
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = _create_engine(url)
    return engine


def dispose_engines(*, close: bool = True) -> None:
    """Forget this process's engines, closing their pooled connections.

    With `close=False`, in a process forked from one that had engines: the connections are let go
    of without being closed, as they stay the parent's (closing them here would end the parent's
    sessions); this process opens its own on first use. psycopg leaves a connection another process
    opened untouched when it is collected, so the copies are only let go of.
    """
    for engine in _engines.values():
        engine.dispose(close=close)
    _engines.clear()
    session_factory.cache_clear()


# A server that stops answering without closing the connection (a dropped network path) is noticed
# within about 25 s of silence, and a sent statement left unacknowledged for 30 s fails, instead
# of a process waiting on it for hours (the kernel's defaults): a web thread storing a delivery
# would otherwise hold every request of its process that waits for it.
TCP_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        _tune_sqlite(engine)
        return engine
    # No server-side prepared statements: a generic plan fixed while a table was still small (a
    # first import) keeps scanning it whole once it is large; planning each statement is cheap.
    # Bound values (emails, names) are kept out of error messages, and so out of logs and the inbox.
    # The session runs in UTC whatever the server's default: every stored time is UTC, and a days
    # interval added to a time (attribution and recovery windows) is then exactly N × 24 hours,
    # never an hour more or less across a daylight-saving change of the server's zone.
    engine = create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        connect_args=_connect_args(url),
        hide_parameters=True,
    )
    _check_on_checkout(engine)
    return engine


def _connect_args(url: str) -> dict[str, Any]:
    """The driver's arguments for PostgreSQL `url`, over what the URL's query says (they would
    replace it): the URL's own keepalive settings are kept, and its `options` come first, ours after.

    Behind PgBouncer, `options` may set only the parameters it tracks (`TimeZone` among them)."""
    given = make_url(url).query
    theirs = given.get("options") or ()
    options = [theirs] if isinstance(theirs, str) else list(theirs)  # a repeated key gives a tuple
    return {
        "prepare_threshold": None,
        "options": " ".join([*(o for o in options if o.strip()), "-c TimeZone=UTC"]),
        **{name: value for name, value in TCP_KEEPALIVES.items() if name not in given},
    }


def _check_on_checkout(engine: Engine) -> None:
    """Hand out no pooled connection the server has closed, with a round trip only when needed.

    `pool_pre_ping` sends `SELECT 1` on every checkout: a webhook's intake, which is one insert,
    paid a fifth of its time for it. A server that restarts, or ends a backend (an idle timeout,
    `pg_terminate_backend`), tells the connection so: its socket becomes readable (the error and
    the close wait there) while the pool holds it. So a connection returned less than
    PING_IDLE_SECONDS ago is pinged only when its socket has something to read; an older one (a
    network device may drop an idle connection without a word) is always pinged. A failed ping
    makes the pool open a new connection, as `pool_pre_ping` does. What this gives up: a server
    gone without a word within those seconds (an address moved to another machine) is found by
    the connection's first statement, which fails; SQLAlchemy then discards the pool's older
    connections, and the request or job fails once (a webhook answers 503 and is sent again).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        recent = returned_at is not None and time.monotonic() - returned_at < PING_IDLE_SECONDS
        if recent and not _has_word(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


def _has_word(dbapi_connection: Any) -> bool:
    """Whether an idle psycopg connection's socket has something to read, or is closed: an idle
    connection is sent nothing but the server's goodbye (an error, then the end of the stream)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    try:
        poller = select.poll()  # not select.select: it refuses descriptors past 1023
        poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except Exception:  # the connection has no socket any more
        return True


def _tune_sqlite(engine: Engine) -> None:
    """Enforce foreign keys, use WAL, and take the write lock at BEGIN.

    Several processes (web, worker, scheduler) share the embedded file. Taking the lock when the
    transaction starts (BEGIN IMMEDIATE) makes a second writer wait for the busy timeout instead
    of failing when its read lock cannot be upgraded.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
        dbapi_connection.create_function(SQLITE_LOWER, 1, python_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_committed(url: str, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """`run_committed_rows`' first row, or None when it gives none."""
    rows = run_committed_rows(url, sql, params)
    return rows[0] if rows else None


def run_committed_rows(url: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one PostgreSQL statement, committed as it runs, on a pooled connection of its own (no
    session, no transaction around it); return its rows (none for a statement that gives none).

    For a statement a request runs on every call, where the session's and Core's bookkeeping cost
    twice what the driver does (a webhook's insert into the inbox): `params` are the driver's
    values (`%(name)s` placeholders), adapted by psycopg alone. A failure, connecting included,
    raises SQLAlchemy's error as a session's statement would (an `OperationalError` answers 503).
    A connection the statement broke is not given back, and the pool's other connections are
    replaced as Core replaces them after a disconnect (the server may have restarted).
    """
    engine = get_engine(url)
    dbapi_error = engine.dialect.loaded_dbapi.Error

    def raised(exc: Exception, invalidated: bool = False) -> StatementError:
        return DBAPIError.instance(
            sql, params, exc, dbapi_error,
            hide_parameters=True, connection_invalidated=invalidated, dialect=engine.dialect,
        )  # fmt: skip

    try:
        pooled = engine.raw_connection()
    except dbapi_error as exc:  # the pool connects with the driver: its errors come unwrapped
        raise raised(exc) from exc
    try:
        driver = pooled.driver_connection
        assert driver is not None  # noqa: S101 - a pooled connection always has one
        try:
            driver.autocommit = True
            with driver.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        except dbapi_error as exc:
            broken = bool(driver.closed or driver.broken)
            if broken:
                pooled.invalidate(exc)
                engine.dispose()  # the others were opened before it broke: new ones from here on
            raise raised(exc, broken) from exc
        finally:
            if not driver.closed and driver.autocommit:
                try:
                    driver.autocommit = False  # as the pool hands connections out
                except dbapi_error as exc:
                    pooled.invalidate(exc)  # never back to the pool committing as it goes
    finally:
        pooled.close()


@cache
def session_factory(url: str) -> sessionmaker[Session]:
    """Return the session factory bound to the engine for `url`."""
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for the packaged migrations and `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database at `url` to `revision`; return the revisions before and after."""
    before = current_revision(url)
    config = alembic_config(url)
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    after = current_revision(url)
    if before != after:
        logger.info("database migrated from %s to %s", before, after)
    return before, after


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Whether the schema comparison (tests, autogenerate) looks at a schema object: all but the
    database's own search indexes, named `*_trgm`, which only PostgreSQL has (migration 0025)."""
    return not (type_ == "index" and name is not None and name.endswith("_trgm"))


def current_revision(url: str) -> str | None:
    """Return the migration revision the database at `url` is at (None when empty)."""
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest migration revision shipped with this version."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
