"""The retry scheduler inside the workers: a dead holder's lock taken over, stopped within bounds.

Retries with back-off wait in RQ's scheduled-job registry until the scheduler of one worker moves
them to their queue. That scheduler holds a lock per queue, refreshed every second and expiring
after 61 s; a worker that cannot take the lock tries again only at its maintenance, every 10
minutes, after waiting up to ~7 minutes for a job. So when a worker was killed and restarted, its
retries stalled for minutes. A SchedulingWorker breaks a lock its holder has not refreshed for
SCHEDULER_STALE_SECONDS and looks at the scheduler every SCHEDULER_CHECK_SECONDS, so retries
resume within about 15 s of a crash.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

import redis
from rq import SimpleWorker
from rq.scheduler import RQScheduler

from jobs.outage import REDIS_ERRORS

logger = logging.getLogger(__name__)

SCHEDULER_STALE_SECONDS = 10  # the scheduler refreshes its lock every second
SCHEDULER_CHECK_SECONDS = 5
SCHEDULER_STOP_SECONDS = 10  # a scheduler process still there after SIGTERM is killed

# Delete the lock only if its holder is who we saw and it went unrefreshed (TTL below ARGV[2] ms).
_BREAK_STALE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then return redis.call('DEL', KEYS[1]) end
return 0
"""


def break_stale_scheduler_locks(scheduler: RQScheduler) -> list[str]:
    """Delete the scheduler locks of these queues whose holder stopped refreshing them; return them."""
    connection = scheduler.connection
    lock_seconds = scheduler.interval + 60  # the TTL RQ gives its lock at each refresh
    below_ms = (lock_seconds - SCHEDULER_STALE_SECONDS) * 1000
    script = connection.register_script(_BREAK_STALE)
    broken = []
    for name in sorted(scheduler._queue_names):  # noqa: SLF001 - RQ keeps the names there
        key = scheduler.get_locking_key(name)
        holder = connection.get(key)
        if holder is None or holder.decode() == scheduler.name:
            continue
        if script(keys=[key], args=[holder, below_ms]):
            broken.append(name)
    if broken:
        scheduler.log.warning("took over the scheduler lock of a stopped worker for %s", ", ".join(broken))
    return broken


class QuietScheduler(RQScheduler):
    """RQ's scheduler (moves due retries onto their queues), ending quietly when Redis goes away:
    the worker starts a new one once Redis is back.

    It runs in a process forked from the worker, which inherits the worker's Redis sockets. It
    lets go of them first (`inherited`): while it held them, a worker killed on its own (the OOM
    killer) left its blocking pop open on the server, and a job pushed then went to nobody.

    It also stops once its worker is gone (checked at each heartbeat, every second). RQ's loop
    never looks: orphaned, it lived on for good, kept refreshing the scheduler locks, and held
    whatever else the worker had open when it was forked, such as its database connections, so a
    transaction the killed worker left open (with its locks) never ended.
    """

    inherited: redis.ConnectionPool | None = None  # the worker's pool, as the fork copied it
    worker_pid: int | None = None  # the worker that forks it

    def heartbeat(self) -> None:
        """As RQ's own, but a scheduler whose worker is gone stops instead (its loop ends, releasing
        its locks, before the next heartbeat)."""
        if self.worker_pid is not None and os.getppid() != self.worker_pid:
            if not self._stop_requested:
                self.log.warning("scheduler stops: its worker (pid %d) is gone", self.worker_pid)
                self.request_stop()
            return
        super().heartbeat()

    def work(self) -> None:
        self._let_go_of_inherited_sockets()
        try:
            super().work()
        except REDIS_ERRORS:
            self.log.debug("scheduler for %s ends: Redis went away", ", ".join(self._queue_names))

    def _let_go_of_inherited_sockets(self) -> None:
        """Close this process's copies of the worker's sockets, without shutting them down (a
        connection made in another process only closes here: redis-py compares the pid)."""
        pool = self.inherited
        if pool is None:
            return
        for inherited in [*pool._available_connections, *pool._in_use_connections]:  # noqa: SLF001
            inherited.disconnect()


class SchedulingWorker(SimpleWorker):
    """A SimpleWorker whose scheduler ends quietly when Redis goes away, is taken over from a dead
    worker within SCHEDULER_CHECK_SECONDS of its lock going stale, and stops within bounds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scheduler_checked = 0.0  # the first heartbeat looks at once: the lock may be stale already
        self.stop_asked = False  # SIGTERM/SIGINT came: no new job, no new scheduler process

    def _take_over_a_dead_scheduler(self) -> None:
        """Run RQ's scheduler here when no live worker does (its holder died without releasing).

        Not once stopping: the scheduler process was just stopped on purpose, and one started now
        would be forked into a worker that is about to leave."""
        if self.stop_asked or time.monotonic() - self._scheduler_checked < SCHEDULER_CHECK_SECONDS:
            return
        self._scheduler_checked = time.monotonic()
        assert self.scheduler is not None  # noqa: S101 - checked by the caller
        process = self.scheduler._process  # noqa: SLF001 - RQ's own check reads it the same way
        if process is not None and process.is_alive():
            return
        break_stale_scheduler_locks(self.scheduler)
        self.scheduler.acquire_locks(auto_start=True)

    def _start_scheduler(self, burst: bool = False, logging_level: Any = "INFO", *args: Any) -> None:
        """As RQ's own, with a scheduler that ends quietly when Redis goes away."""
        self.scheduler = QuietScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.inherited = self.connection.connection_pool
        self.scheduler.worker_pid = os.getpid()
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """As RQ's own, but bounded: RQ waits for its scheduler process without a limit, so one that
        never leaves (a child forked while another thread held a lock) would keep this worker from
        stopping. It gets SCHEDULER_STOP_SECONDS after SIGTERM, then is killed, and its locks are
        released from here."""
        scheduler = self.scheduler
        process = scheduler._process if scheduler is not None else None  # noqa: SLF001 - as RQ's own
        if scheduler is None or process is None or process.pid is None:
            return
        try:
            os.kill(process.pid, signal.SIGTERM)
        except OSError:
            pass
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            logger.warning(
                "scheduler process %d alive %d s after SIGTERM: killed", process.pid, SCHEDULER_STOP_SECONDS
            )
            process.kill()
            process.join(SCHEDULER_STOP_SECONDS)
            try:
                scheduler.release_locks()
            except redis.RedisError:
                pass  # its locks expire on their own; a worker breaks a stale one sooner
