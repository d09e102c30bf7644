"""Named queues and enqueueing with retries, on the store's Redis (`integration.store.redis`).

Queues: `ingest` (inbox normalization), `compute` (classification, carts), `sync` (destinations).
Jobs are serialized as JSON, retried with back-off, and kept in RQ's failed registry for
FAILURE_TTL_SECONDS so an operator can see and requeue them (`storepulse jobs`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from integration.settings import Settings
from integration.store.redis import connection

logger = logging.getLogger(__name__)

INGEST, COMPUTE, SYNC = "ingest", "compute", "sync"
QUEUES = (INGEST, COMPUTE, SYNC)
RETRY_INTERVALS_SECONDS = [10, 30, 120, 600, 1800]
FAILURE_TTL_SECONDS = 30 * 24 * 3600
RESULT_TTL_SECONDS = 24 * 3600
JOB_TIMEOUT_SECONDS = 15 * 60
JOB_ID = re.compile(r"[A-Za-z0-9_-]+")  # the ids RQ accepts


def queue(settings: Settings, name: str) -> Queue:
    """Return the named queue with the JSON serializer."""
    return Queue(name, connection=connection(settings), serializer=JSONSerializer)


_listening: list[tuple[str, ...]] = [QUEUES]  # the queues this process's worker takes jobs from


def listen_to(names: Sequence[str]) -> None:
    """Record the queues this process's worker takes jobs from (what `others_waiting` looks at)."""
    _listening[0] = tuple(names)


def others_waiting(settings: Settings) -> bool:
    """Whether a queue this process's worker takes jobs from holds a job waiting (one round trip)."""
    with connection(settings).pipeline(transaction=False) as pipe:
        for name in _listening[0]:
            pipe.llen(queue(settings, name).key)
        return any(pipe.execute())


def enqueue(
    settings: Settings,
    name: str,
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    retry: bool = True,
    retry_intervals_seconds: list[int] | None = None,
    failure_ttl_seconds: int = FAILURE_TTL_SECONDS,
    meta: dict[str, Any] | None = None,
    timeout_seconds: int = JOB_TIMEOUT_SECONDS,
    delay_seconds: float = 0,
    on_failure: Callable[..., Any] | None = None,
) -> Job:
    """Enqueue `func(*args)` on queue `name` with back-off retries; arguments must be JSON-safe.

    `retry_intervals_seconds` replaces the default back-off (one retry per interval, at most
    `job_retries`); a job that fails for good stays `failure_ttl_seconds` in the failed registry.
    With `delay_seconds` the job is queued that much later (by the workers' scheduler).
    `on_failure(job, connection, type, value, traceback)` runs on each failed try, before RQ
    decides on a retry (`job.should_retry`): when the job raised, and when its worker died with it
    (found abandoned, with no traceback).
    """
    retries = settings.job_retries
    intervals = (retry_intervals_seconds or RETRY_INTERVALS_SECONDS)[:retries]
    options: dict[str, Any] = {
        "args": args,
        "job_id": job_id,
        "retry": Retry(max=len(intervals), interval=intervals) if retry and intervals else None,
        "failure_ttl": failure_ttl_seconds,
        "result_ttl": RESULT_TTL_SECONDS,
        "job_timeout": timeout_seconds,
        "meta": meta,
        "on_failure": Callback(on_failure) if on_failure is not None else None,
    }
    if delay_seconds > 0:
        return queue(settings, name).enqueue_in(timedelta(seconds=delay_seconds), func, **options)
    return queue(settings, name).enqueue(func, **options)


def enqueue_or_sweep(
    settings: Settings,
    name: str,
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    on_failure: Callable[..., Any] | None = None,
    timeout_seconds: int = JOB_TIMEOUT_SECONDS,
) -> Job | None:
    """Enqueue work whose input is already stored; if Redis is down, leave it for the periodic sweeper."""
    try:
        return enqueue(
            settings, name, func, *args, job_id=job_id, on_failure=on_failure, timeout_seconds=timeout_seconds
        )
    except redis.RedisError as exc:
        logger.warning("queue unavailable, %s%s left for the sweeper: %s", func.__name__, args, exc)
        return None


def enqueue_once(
    settings: Settings,
    key: str,
    ttl_seconds: int,
    name: str,
    func: Callable[..., Any],
    *args: Any,
    timeout_seconds: int = JOB_TIMEOUT_SECONDS,
    delay_seconds: float = 0,
) -> bool:
    """Enqueue `func(*args)` unless the Redis key says it is already queued (debounce; the job clears
    the key before it reads). False when Redis is unavailable: the caller's sweeper or schedule will do.
    """
    try:
        if connection(settings).set(key, "1", nx=True, ex=ttl_seconds):
            enqueue(settings, name, func, *args, timeout_seconds=timeout_seconds, delay_seconds=delay_seconds)
    except redis.RedisError as exc:
        logger.warning("%s not queued now: %s", func.__name__, exc)
        return False
    return True


@dataclass(frozen=True)
class Debounce:
    """At most one queued run of a job per id: a request queues it unless one is queued already, and
    the job calls `taken` before it reads, so a change made while it runs asks for (and gets) the next."""

    key_prefix: str
    queue: str
    ttl_seconds: int
    timeout_seconds: int = JOB_TIMEOUT_SECONDS

    def key(self, job_id: int) -> str:
        return f"{self.key_prefix}:{job_id}"

    def request(
        self, settings: Settings, func: Callable[[int], Any], job_id: int, delay_seconds: float = 0
    ) -> bool:
        """Queue `func(job_id)` (`delay_seconds` later) unless it is queued already; False if Redis
        is down."""
        return enqueue_once(
            settings,
            self.key(job_id),
            self.ttl_seconds,
            self.queue,
            func,
            job_id,
            timeout_seconds=self.timeout_seconds,
            delay_seconds=delay_seconds,
        )

    def taken(self, settings: Settings, job_id: int) -> None:
        """Let the next request queue another run (called by the job before it reads)."""
        connection(settings).delete(self.key(job_id))


def fetch_job(settings: Settings, job_id: str) -> Job | None:
    """Return a job by id, or None when it is unknown, expired or no job id at all."""
    if not JOB_ID.fullmatch(job_id):
        return None  # RQ refuses to look such an id up; no job can have it
    try:
        return Job.fetch(job_id, connection=connection(settings), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def will_run(settings: Settings, job_id: str) -> bool:
    """Whether the job is still to run: in its queue, or scheduled for a retry, or deferred.

    The status alone does not tell: Redis restarting from its append-only file (which keeps up to
    the last second's writes, not always all of them), or a replica taking over, can keep a
    worker's taking of a job out of its queue and lose the "started" that followed. Such a job says
    "queued" while no queue holds it, and nothing would ever run it.
    """
    job = fetch_job(settings, job_id)
    return job is not None and job_will_run(settings, job)


def job_will_run(settings: Settings, job: Job) -> bool:
    """`will_run` for a job already fetched."""
    status = job.get_status()
    held = queue(settings, job.origin)
    if status == JobStatus.QUEUED:
        # In its queue, or being taken by a worker: RQ moves it to the queue's intermediate list
        # first, and marks it started a moment later.
        return (
            held.get_job_position(job.id) is not None
            or held.connection.lpos(held.intermediate_queue_key, job.id) is not None
        )
    if status == JobStatus.SCHEDULED:
        return job.id in held.scheduled_job_registry
    if status == JobStatus.DEFERRED:
        return job.id in held.deferred_job_registry
    return False
