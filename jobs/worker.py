"""The job worker: RQ's SimpleWorker, taking over RQ's scheduler from a worker that died.

Retries with back-off wait in RQ's scheduled-job registry until the scheduler of one worker moves
them to their queue. That scheduler holds a lock per queue, refreshed every second and expiring
after 61 s; a worker that cannot take the lock tries again only at its maintenance, every 10
minutes, after waiting up to ~7 minutes for a job. So when a worker is killed and restarted, its
retries stalled for minutes. This worker breaks a lock its holder has not refreshed for
SCHEDULER_STALE_SECONDS and looks at the scheduler every SCHEDULER_CHECK_SECONDS, so retries
resume within about 15 s of a crash.
"""

from __future__ import annotations

import time
from typing import Any

from rq import SimpleWorker
from rq.scheduler import RQScheduler

SCHEDULER_STALE_SECONDS = 10  # the scheduler refreshes its lock every second
SCHEDULER_CHECK_SECONDS = 5

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


class Worker(SimpleWorker):
    """Runs jobs in its own process; runs RQ's scheduler unless a live worker does."""

    _scheduler_checked = 0.0  # the first heartbeat looks at once: the lock may be stale already

    @property
    def dequeue_timeout(self) -> int:
        # Wake up between waits for a job, to look at the scheduler (a blocking pop costs nothing).
        return SCHEDULER_CHECK_SECONDS

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is not None or self.scheduler is None:
            return
        if time.monotonic() - self._scheduler_checked < SCHEDULER_CHECK_SECONDS:
            return
        self._scheduler_checked = time.monotonic()
        process = self.scheduler._process  # noqa: SLF001 - RQ's own check reads it the same way
        if process is not None and process.is_alive():
            return
        break_stale_scheduler_locks(self.scheduler)
        self.scheduler.acquire_locks(auto_start=True)  # type: ignore[no-untyped-call]
