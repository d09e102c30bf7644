"""The worker process: RQ's SimpleWorker, kept alive through outages and stopped gracefully.

RQ's work loop quits on most Redis errors (and logs each retry of the others), so `run` wraps
it: each round waits until Redis answers, starts a fresh `Worker`, and when the round ended
because Redis went away, waits and starts again. Nothing is lost on the way:

- A job under way when Redis went away is given back to the front of its queue once Redis
  answers again (unless it was recorded as finished or failed).
- A job that failed because the database is unreachable is given back too, without using one of
  its retries, and the worker waits for the database before it takes another job.
- On SIGTERM (or SIGINT) the worker takes no new job; the job under way may finish within
  STOREPULSE_SHUTDOWN_GRACE_SECONDS (20 s: under the 30 s Heroku and Kubernetes allow), then it
  is interrupted and given back, so a platform's kill a few seconds later finds nothing claimed.
  Its transaction rolls back; jobs are idempotent.

Retries with back-off wait in RQ's scheduled-job registry until the scheduler of one worker moves
them to their queue. That scheduler holds a lock per queue, refreshed every second and expiring
after 61 s; a worker that cannot take the lock tries again only at its maintenance, every 10
minutes, after waiting up to ~7 minutes for a job. So when a worker was killed and restarted, its
retries stalled for minutes. This worker breaks a lock its holder has not refreshed for
SCHEDULER_STALE_SECONDS and looks at the scheduler every SCHEDULER_CHECK_SECONDS, so retries
resume within about 15 s of a crash.

States, pid, host and the last job are in the heartbeat (`jobs.heartbeat`, `storepulse status`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from integration.operations.metrics import count_job_failure
from integration.settings import Settings
from jobs import heartbeat as hb
from jobs.outage import (
    FIRST_WAIT_SECONDS,
    REDIS_ERRORS,
    Outage,
    database_reachable,
    database_unreachable_error,
    redis_reachable,
    wait_until_reachable,
)
from jobs.queues import QUEUES, connection

logger = logging.getLogger(__name__)

PUBSUB_RETRY_SECONDS = 2.0
INTERRUPT_SIGNAL = signal.SIGUSR1  # not SIGALRM: RQ times jobs out with that one
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


class RedisLost(StopRequested):
    """Redis went away during the work loop: end the round quietly (RQ's loop stops on this class)."""


class ShutdownInterrupt(BaseException):  # noqa: N818 - an interruption, not an error of the job
    """The grace period after SIGTERM ran out while a job was under way.

    A BaseException, as KeyboardInterrupt: code that records a failure per item (`except Exception`)
    must not take it for one; transactions roll back on it.
    """


@contextmanager
def _redis_guard(worker: Worker) -> Iterator[None]:
    try:
        yield
    except REDIS_ERRORS as error:
        worker.redis_error = error
        raise RedisLost(str(error)) from error
    except RedisLost as lost:
        worker.redis_error = lost.__cause__ or lost
        raise


class _Queue(Queue):
    """RQ's queue, whose dequeue ends the round on a lost connection (RQ's own retries log each try)."""

    @classmethod
    def dequeue_any(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dequeue_any(*args, **kwargs)
        except REDIS_ERRORS as error:
            raise RedisLost(str(error)) from error


class _Scheduler(RQScheduler):
    """RQ's scheduler (moves due retries onto their queues), ending quietly when Redis goes away:
    the worker starts a new one once Redis is back."""

    def work(self) -> None:
        try:
            super().work()
        except REDIS_ERRORS:
            self.log.debug("scheduler for %s ends: Redis went away", ", ".join(self._queue_names))


class Worker(SimpleWorker):
    """A SimpleWorker that leaves its round when Redis goes away, waits for the database when a
    job finds it unreachable, gives interrupted jobs back, and keeps a heartbeat."""

    def __init__(self, *args: Any, settings: Settings, beat: hb.Heartbeat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.beat = beat
        self.redis_error: BaseException | None = None
        self.stop_asked = False
        self.current: tuple[Job, Queue] | None = None  # the job under way and its queue
        self.in_job = False  # inside the job's own function (interruptible)
        self.database = Outage("database", logger)
        self._database_lost_job: str | None = None
        self._interrupted_job: str | None = None
        self._grace_timer: threading.Timer | None = None
        self._scheduler_checked = 0.0  # the first heartbeat looks at once: the lock may be stale already

    # -- Redis going away anywhere in RQ's loop ends the round quietly ------------------------

    @property
    def redis_lost(self) -> bool:
        return self.redis_error is not None

    def check_for_suspension(self, burst: bool) -> None:
        with _redis_guard(self):
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self) -> None:
        with _redis_guard(self):
            super().run_maintenance_tasks()

    @property
    def dequeue_timeout(self) -> int:
        # Wake up between waits for a job, to look at the scheduler (a blocking pop costs nothing).
        return SCHEDULER_CHECK_SECONDS

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        with _redis_guard(self):
            super().heartbeat(timeout, pipeline)
            if pipeline is None and self.scheduler is not None:
                self._take_over_a_dead_scheduler()

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

    def set_state(self, state: str, pipeline: Any = None) -> None:
        with _redis_guard(self):
            super().set_state(state, pipeline)

    def set_shutdown_requested_date(self) -> None:
        try:
            super().set_shutdown_requested_date()
        except redis.RedisError:
            pass  # called from the signal handler: an outage must not break into the job

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        if self.database.down or self._database_lost_job:
            self._wait_for_database()
        with _redis_guard(self):
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.current = (job, queue)
        self.beat.job_started(job.func_name or job.id)
        with _redis_guard(self):
            super().execute_job(job, queue)
        # Only a job that reached its end is forgotten: after an outage `run` gives it back.
        self.current = None
        self.beat.job_ended()

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        """RQ's command channel: wait through an outage quietly (the work loop reports it)."""
        if isinstance(exc, redis.ConnectionError):
            time.sleep(PUBSUB_RETRY_SECONDS)
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def _start_scheduler(self, burst: bool = False, logging_level: Any = "INFO", *args: Any) -> None:
        """As RQ's own, with a scheduler that ends quietly when Redis goes away."""
        self.scheduler = _Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
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

    def teardown(self) -> None:
        """Leave RQ's registries; when Redis is gone, still stop the scheduler and the channel."""
        try:
            super().teardown()
        except redis.RedisError:
            if self.scheduler:
                self.stop_scheduler()
            if self.pubsub_thread:  # unsubscribing would need Redis: stop the channel's thread only
                self.pubsub_thread.stop()
                self.pubsub_thread.join(timeout=1)
                self.pubsub_thread = None

    # -- the database ----------------------------------------------------------------------------

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """Log a failed job, unless it only met an unreachable database or the end of the grace period:
        such a job is given back (`handle_job_failure`), and the outage is logged once."""
        value = exc_info[1]
        if job.id == self._interrupted_job:
            return
        if value is not None and database_unreachable_error(value):
            problem = database_reachable(self.settings.database_url)
            if problem is not None:
                self.database.lost(problem)
                self._database_lost_job = job.id
                return
        super().handle_exception(job, *exc_info)

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> None:
        if job.id in (self._database_lost_job, self._interrupted_job):
            self._give_back(job, queue, kwargs.get("execution"))
            return
        super().handle_job_failure(job, queue, *args, **kwargs)

    def _wait_for_database(self) -> None:
        self._database_lost_job = None
        self.beat.set_state(hb.WAITING_FOR_DATABASE)
        # A SIGTERM while waiting raises StopRequested out of here (RQ's handler): the loop ends.
        wait_until_reachable(
            self.database,
            lambda: database_reachable(self.settings.database_url),
            threading.Event(),
            while_waiting=self.heartbeat,
        )
        self.beat.set_state(hb.RUNNING)

    # -- giving a job back -----------------------------------------------------------------------

    def _give_back(self, job: Job, queue: Queue, execution: Any = None) -> None:
        """Put a job that did not run to its end back at the front of its queue, retries untouched."""
        with self.connection.pipeline() as pipeline:
            for each in [execution] if execution is not None else job.get_executions():
                if each is not None:
                    each.delete(job=job, pipeline=pipeline)
                    self.executions.pop(each.id, None)
            pipeline.execute()
        queue.enqueue_job(job, at_front=True)
        self._database_lost_job = self._interrupted_job = None
        logger.info("job %s (%s) given back to queue %s", job.id, job.func_name, queue.name)

    def give_back_current(self) -> None:
        """After an outage: give back the job that was under way, unless Redis recorded its end."""
        if self.current is None:
            return
        job, queue = self.current
        self.current = None
        self.beat.job_ended()
        try:
            status = job.get_status(refresh=True)
        except Exception:  # noqa: BLE001 - the job expired or was deleted meanwhile: nothing to return
            return
        if status in (JobStatus.STARTED, JobStatus.QUEUED):
            self._give_back(job, queue)

    # -- SIGTERM ---------------------------------------------------------------------------------

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_asked = True
        self.beat.set_state(hb.STOPPING)
        if self.get_state() == WorkerStatus.BUSY and self._grace_timer is None:
            signal.signal(INTERRUPT_SIGNAL, self._interrupt_job)
            grace = self.settings.shutdown_grace_seconds
            self._grace_timer = threading.Timer(grace, os.kill, args=(os.getpid(), INTERRUPT_SIGNAL))
            self._grace_timer.daemon = True
            self._grace_timer.start()
            logger.info("stopping: the job under way has %d s to finish", grace)
        super().request_stop(signum, frame)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        """A second SIGTERM/SIGINT (not the echo RQ ignores within a second): give the job back now."""
        requested = self._shutdown_requested_date
        if self.in_job and requested is not None and (rq_now() - requested) >= timedelta(seconds=1):
            logger.warning("stopping now: the job under way is interrupted")
            self._interrupt_job(signum, frame)
        super().request_force_stop(signum, frame)

    def _interrupt_job(self, _signum: int, _frame: FrameType | None) -> None:
        if self.in_job and self.current is not None:
            self._interrupted_job = self.current[0].id
            raise ShutdownInterrupt(f"shutdown grace of {self.settings.shutdown_grace_seconds} s passed")

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        self.in_job = True

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        self.in_job = False
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def cancel_grace(self) -> None:
        if self._grace_timer is not None:
            self._grace_timer.cancel()


def run(settings: Settings, queues: list[str] | None = None, burst: bool = False) -> None:
    """Work the queues until SIGTERM/SIGINT (or, with `burst`, until they are empty), through outages."""
    names = list(queues or QUEUES)
    client = connection(settings)
    beat = hb.Heartbeat(client, "worker", logger)
    redis_outage = Outage("redis", logger)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def _wait_handlers() -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)

    _wait_handlers()
    beat.start()
    previous: Worker | None = None
    try:
        while not stop.is_set():
            if redis_reachable(client) is not None:
                beat.set_state(hb.WAITING_FOR_REDIS)
                if not wait_until_reachable(redis_outage, lambda: redis_reachable(client), stop):
                    break
            if previous is not None:
                _after_outage(previous)
                previous = None
            beat.set_state(hb.RUNNING)
            try:
                worker = Worker(
                    names,
                    connection=client,
                    serializer=JSONSerializer,
                    queue_class=_Queue,
                    exception_handlers=[count_job_failure],
                    settings=settings,
                    beat=beat,
                )
            except REDIS_ERRORS as error:  # RQ names the connection after the worker
                redis_outage.lost(error)
                stop.wait(FIRST_WAIT_SECONDS)
                continue
            try:
                worker.work(burst=burst, with_scheduler=not burst, logging_level=settings.log_level)
            except REDIS_ERRORS as error:  # while starting the round, before RQ's loop
                worker.redis_error = error
            except StopRequested:
                worker.stop_asked = True  # a signal between rounds, caught by RQ's handler
            finally:
                worker.cancel_grace()
                _wait_handlers()
            if worker.stop_asked or not worker.redis_lost:
                if worker.current is not None:  # stopped on a Redis error while stopping
                    previous = worker
                break
            redis_outage.lost(worker.redis_error or "connection lost")
            previous = worker
        if previous is not None and redis_reachable(client) is None:
            _after_outage(previous)
    finally:
        beat.set_state(hb.STOPPING)
        beat.stop()


def _after_outage(worker: Worker) -> None:
    """Give back the job the last round left under way, and drop that round's worker from RQ."""
    try:
        worker.give_back_current()
        if worker.scheduler:
            worker.scheduler.release_locks()  # its process ended with Redis: a new one takes over
        if worker.connection.exists(worker.key) and not worker.connection.hexists(worker.key, "death"):
            worker.register_death()
    except redis.RedisError as error:
        logger.warning("could not give back the job under way yet: %s", error)
