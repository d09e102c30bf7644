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

Retries with back-off wait for the scheduler that runs in one of the workers (`jobs.scheduler_lock`).

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
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now
from rq.worker import DequeueStrategy, WorkerStatus

from integration.operations.metrics import count_job_failure
from integration.settings import Settings
from integration.store.redis import connection
from jobs import heartbeat as hb
from jobs.failed import failure_notifier
from jobs.outage import (
    FIRST_WAIT_SECONDS,
    REDIS_ERRORS,
    Outage,
    database_reachable,
    database_unreachable_error,
    redis_reachable,
    wait_until_reachable,
)
from jobs.queues import QUEUES, listen_to
from jobs.scheduler_lock import SCHEDULER_CHECK_SECONDS, SchedulingWorker

logger = logging.getLogger(__name__)

PUBSUB_RETRY_SECONDS = 2.0
INTERRUPT_SIGNAL = signal.SIGUSR1  # not SIGALRM: RQ times jobs out with that one


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


def _stop_without_waiting(thread: Any) -> None:
    """Clear a pub/sub thread's running flag; redis-py 8's `stop()` would also wait for the thread."""
    try:
        thread.stop(timeout=0)
    except TypeError:  # redis-py before 8: stop() takes no timeout and does not wait
        thread.stop()


class LeavesChannelAtOnce:
    """For an RQ worker class: leave RQ's command channel without waiting out its thread's read."""

    pubsub: Any
    pubsub_thread: Any

    def unsubscribe(self) -> None:
        """Leave RQ's command channel without waiting out its thread's 60-second read.

        RQ unsubscribes, then stops the thread; redis-py 8's `stop()` waits for the thread, and a
        thread that read the unsubscribe reply before its flag was cleared waits a full minute for
        a message that never comes, so every worker's exit took up to 60 s. The flag is cleared
        first: the unsubscribe reply then ends the thread's read and its loop.
        """
        thread = self.pubsub_thread
        if thread is None:
            return
        _stop_without_waiting(thread)
        self.pubsub.unsubscribe()
        thread.join(timeout=1)
        self.pubsub.close()
        self.pubsub_thread = None


class _Queue(Queue):
    """RQ's queue, whose dequeue ends the round on a lost connection (RQ's own retries log each try)."""

    @classmethod
    def dequeue_any(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dequeue_any(*args, **kwargs)
        except REDIS_ERRORS as error:
            raise RedisLost(str(error)) from error


class Worker(LeavesChannelAtOnce, SchedulingWorker):
    """A SimpleWorker that leaves its round when Redis goes away, waits for the database when a
    job finds it unreachable, gives interrupted jobs back, and keeps a heartbeat."""

    def __init__(self, *args: Any, settings: Settings, beat: hb.Heartbeat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.beat = beat
        self.redis_error: BaseException | None = None
        self.current: tuple[Job, Queue] | None = None  # the job under way and its queue
        self.in_job = False  # inside the job's own function (interruptible)
        self.database = Outage("database", logger)
        self._database_lost_job: str | None = None
        self._interrupted_job: str | None = None
        self._grace_timer: threading.Timer | None = None

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

    def teardown(self) -> None:
        """Leave RQ's registries; when Redis is gone, still stop the scheduler and the channel."""
        try:
            super().teardown()
        except redis.RedisError:
            if self.scheduler:
                self.stop_scheduler()
            if self.pubsub_thread:  # unsubscribing would need Redis: stop the channel's thread only
                _stop_without_waiting(self.pubsub_thread)
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
        grace = self.settings.shutdown_grace_seconds
        timer = None
        if self.get_state() == WorkerStatus.BUSY and self._grace_timer is None:
            signal.signal(INTERRUPT_SIGNAL, self._interrupt_job)
            timer = self._grace_timer = threading.Timer(grace, os.kill, args=(os.getpid(), INTERRUPT_SIGNAL))
            timer.daemon = True
            logger.info("stopping: the job under way has %d s to finish", grace)
        super().request_stop(signum, frame)
        # Started once RQ has recorded the stop: with no grace (0 s) the interrupt would otherwise
        # land inside this handler, give the job back before the stop was recorded, and the worker
        # would go on to take it again.
        if timer is not None:
            timer.start()

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
    listen_to(names)  # a drain hands over when one of these has work waiting
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
                    exception_handlers=[count_job_failure, failure_notifier(settings)],
                    settings=settings,
                    beat=beat,
                )
            except REDIS_ERRORS as error:  # RQ names the connection after the worker
                redis_outage.lost(error)
                stop.wait(FIRST_WAIT_SECONDS)
                continue
            try:
                worker.work(
                    burst=burst,
                    with_scheduler=not burst,
                    logging_level=settings.log_level,
                    # Each queue in turn: a busy inbox does not hold back statistics or syncs.
                    dequeue_strategy=DequeueStrategy.ROUND_ROBIN,
                )
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
