"""Reads from a PostgreSQL streaming replica (`DATABASE_REPLICA_URL`); writes and fresh reads on the primary.

Which requests read from the replica: a GET or HEAD of the merchant's pages (`admin`) and of the
JSON API. Everything else — changes, webhooks, installs, the collector, health — uses the primary.

Reading one's own writes: once a change to an account commits (any other method on those
blueprints, or anything that says so with `wrote`: a sign-in, a shop connected, a read that stored
something), the primary's WAL position after it is kept in Redis for the account
(`storepulse:replica:lsn:<account>`, the highest one, for a day). A read for that account takes
the replica only when the replica has replayed that position; otherwise — and when Redis cannot
say, or the replica cannot be reached (then it is left alone for REPLICA_PAUSE_SECONDS) — the
primary answers. Every read the replica could have served says which one did in
`X-Storepulse-Read-From` (`replica` or `primary`).

The views do not change: `db.session` is opened on the replica or the primary by this module.
Who is asking is always settled on the primary — the API's request hooks (keys, session tokens,
a signed-in user) and the admin pages' guard (a signed-in user and whether a password change ended
the session, an embedded shop and its first connection) — and what that read or stored is
committed before the view's own reads start. A view that stores something as it reads (a cache
filled on first use, predefined segments created on the first visit) is refused by the replica
and runs again on the primary, as does one whose replica went away or cancelled its query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import psycopg
import redis
from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import session_factory
from integration.store.redis import connection

logger = logging.getLogger(__name__)

HEADER = "X-Storepulse-Read-From"
BLUEPRINTS = "storepulse.replica.blueprints"
READ_FROM = "storepulse.read_from"
VIEW_READS = "storepulse.view_reads_replica"
WROTE = "storepulse.replica.wrote"
_OWN = "own"  # `wrote()` without an account: the request's own
LSN_KEY = "storepulse:replica:lsn:{account}"
LSN_KEEP_SECONDS = 24 * 3600
# A replica that cannot be reached is not tried again by this process for this long.
REPLICA_PAUSE_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 3
SAFE = frozenset({"GET", "HEAD"})
# Blueprints whose views check the viewer themselves (`admin_page`): their reads start on the
# replica only when that check is done (`start_reads`).
GUARDED = frozenset({"admin"})

# Keep the highest position: two changes of one account may commit in either order. (Lua's numbers
# are doubles: exact up to 2^53 bytes of WAL, some 9 PB.)
_KEEP_HIGHEST = """
local known = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > known then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# A WAL position at or after the end of every commit that has returned: the flushed position, or,
# where commits return before they are flushed (synchronous_commit = off), the inserted one (which
# runs ahead of what a replica can replay until the WAL writer gets to it, up to seconds when idle).
COMMITTED_POSITION = text(
    "SELECT CASE current_setting('synchronous_commit') WHEN 'off' THEN pg_current_wal_insert_lsn()"
    " ELSE pg_current_wal_flush_lsn() END::text"
)

_paused_until: dict[str, float] = {}  # by replica URL: when this process may try it again
_pause_lock = threading.Lock()


def init_app(app: Flask, blueprints: Iterable[str]) -> None:
    """Let GET and HEAD requests of these blueprints read from the replica, when one is configured."""
    app.extensions[BLUEPRINTS] = frozenset(blueprints)

    @app.after_request
    def _say_where(response: Response) -> Response:
        where = g.get(READ_FROM)
        if where is not None:
            response.headers[HEADER] = where
        return response


def lsn_number(lsn: str) -> int:
    """A WAL position (`16/B374D848`) as a number that orders the same way."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def routed(settings: Settings) -> bool:
    """At the start of the view: whether it reads from the replica from here (one is configured,
    and the request is a GET or HEAD of a routed blueprint whose requests are authenticated by
    request hooks). Remembered for the view's session."""
    may = request.blueprint not in GUARDED and _routed(settings)
    setattr(g, VIEW_READS, may)
    return may


def start_reads(settings: Settings) -> bool:
    """Called by a page's guard once it has checked the viewer (on the primary): whether the page
    reads from the replica from here. The caller commits what the guard read or stored first."""
    may = g.get(READ_FROM) != "primary" and _routed(settings)  # not once the page went to the primary
    setattr(g, VIEW_READS, may)
    return may


def reading() -> bool:
    """Whether the view is reading from the replica."""
    return bool(g.get(VIEW_READS))


def retry_on_primary(settings: Settings, exc: BaseException) -> bool:
    """Whether a view reading from the replica should run again on the primary after `exc`: the
    replica refused a write (a view that stores something as it reads: its position is then kept
    for the account once the rerun commits), cancelled a query for a conflict with its replay, or
    went away (then it is left alone for a while). If so, the rest of the request uses the primary."""
    if not reading() or not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc.orig, psycopg.errors.ReadOnlySqlTransaction):
        wrote()
    elif isinstance(exc.orig, psycopg.errors.SerializationFailure):
        logger.info("read replica cancelled a read (a conflict with its replay): reading from the primary")
    elif isinstance(exc, OperationalError) or exc.connection_invalidated:
        _pause(settings, exc)
    else:
        return False
    setattr(g, VIEW_READS, False)
    setattr(g, READ_FROM, "primary")
    return True


def wrote(account_id: int | None = None) -> None:
    """Say that this request stored something for an account (the request's own when None) even
    though it may be a read: the position is kept once it commits (`changed`)."""
    setattr(g, WROTE, account_id if account_id is not None else _OWN)


def _routed(settings: Settings) -> bool:
    return (
        settings.database_replica_url is not None
        and request.method in SAFE
        and request.blueprint in current_app.extensions.get(BLUEPRINTS, ())
    )


def _account() -> int | None:
    """The account the request acts for: an API key's or session token's, or the page viewer's."""
    account_id = g.get("account_id")
    if account_id is None and g.get("viewer") is not None:
        account_id = g.viewer.account_id
    if account_id is None and current_user and current_user.is_authenticated:
        account_id = current_user.user.account_id  # just signed in (or signed up by an invitation)
    return int(account_id) if account_id is not None else None


def _replica_url(settings: Settings) -> str:
    assert settings.database_replica_url is not None  # noqa: S101 - _routed checked it
    url = make_url(settings.database_replica_url)
    if "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return url.render_as_string(hide_password=False)


def open_session(settings: Settings) -> Session:
    """The request's store session: on the replica when this request may read there and the replica
    has replayed the account's last change, else on the primary (said in the response's header)."""
    if g.get(VIEW_READS):
        session = _replica_session(settings)
        if session is not None and g.get(READ_FROM) != "primary":
            setattr(g, READ_FROM, "replica")
            return session
        if session is not None:
            session.close()  # an earlier unit of this request read from the primary: keep to it
        setattr(g, READ_FROM, "primary")
    return session_factory(settings.database_url)()


def _replica_session(settings: Settings) -> Session | None:
    """A session on the replica that has replayed the account's last change; None otherwise."""
    url = _replica_url(settings)
    if time.monotonic() < _paused_until.get(url, 0.0):
        return None
    needed = _needed_position(settings)
    if needed is False:
        return None
    session = session_factory(url)()
    try:
        replayed = session.scalar(text("SELECT pg_last_wal_replay_lsn()::text"))
    except OperationalError as exc:
        session.close()
        _pause(settings, exc)
        return None
    if needed is not None and (replayed is None or lsn_number(replayed) < needed):
        session.close()  # it has not replayed the account's last change yet
        return None
    return session


def _pause(settings: Settings, exc: DBAPIError) -> None:
    """Leave a replica that failed alone for REPLICA_PAUSE_SECONDS in this process."""
    with _pause_lock:
        _paused_until[_replica_url(settings)] = time.monotonic() + REPLICA_PAUSE_SECONDS
    logger.warning(
        "read replica failed, reading from the primary for %.0f s: %s", REPLICA_PAUSE_SECONDS, exc.orig
    )


def _needed_position(settings: Settings) -> int | None | bool:
    """The WAL position the replica must have replayed for this account (None: any); False when
    Redis cannot say."""
    account_id = _account()
    if account_id is None:
        return None
    try:
        known = connection(settings).get(LSN_KEY.format(account=account_id))
    except redis.RedisError as exc:
        logger.warning("read replica skipped, Redis unavailable: %s", exc)
        return False
    return int(known) if known is not None else None


def changed(settings: Settings) -> None:
    """After a request that may have changed an account committed (a change on a routed blueprint,
    or anything flagged with `wrote`): keep the primary's WAL position for the account, so its next
    reads wait until the replica has replayed it. Never raises: the change is already stored."""
    if settings.database_replica_url is None:
        return
    flagged = g.get(WROTE)
    if flagged is None:
        if request.method in SAFE or request.blueprint not in current_app.extensions.get(BLUEPRINTS, ()):
            return
    account_id = flagged if isinstance(flagged, int) else _account()
    if account_id is None:
        return
    try:
        with session_scope(settings.database_url) as session:
            position = session.scalar(COMMITTED_POSITION)
        if position is None:
            return
        connection(settings).register_script(_KEEP_HIGHEST)(
            keys=[LSN_KEY.format(account=account_id)], args=[lsn_number(position), LSN_KEEP_SECONDS]
        )
    except (DBAPIError, redis.RedisError) as exc:
        # The account's next reads cannot be told from stale ones: if Redis still holds an older
        # position they wait for that one only; the replica is usually milliseconds behind.
        logger.warning(
            "read replica: the position after a change of account %s was not kept: %s", account_id, exc
        )
