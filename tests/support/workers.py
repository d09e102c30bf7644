"""Workers for the queue tests: `storepulse worker` started and killed as a process group, and
RQ's SimpleWorker draining the queues in the test's own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from bench.webhooks import deliveries
from integration.ingest import inbox
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import InboxDelivery, InboxStatus
from integration.store.redis import connection
from jobs.queues import INGEST, queue
from jobs.worker import LeavesChannelAtOnce

DRAIN = "jobs.ingest.drain_inbox_job"
REPOSITORY = Path(__file__).resolve().parents[2]


class DrainingWorker(LeavesChannelAtOnce, SimpleWorker):
    """RQ's SimpleWorker, for `work(burst=True)` in the test's process, leaving its command channel
    at once as `storepulse worker` does (RQ's own way waits up to a minute with redis-py 8)."""


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker process working on this test's store and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY=settings.secret_key,
        STOREPULSE_ENCRYPTION_KEY=",".join(settings.encryption_keys),
        STOREPULSE_INSTANCE_PATH=str(settings.instance_path),
        STOREPULSE_LOG_LEVEL="WARNING",
        # Jobs of the tests' own (tests.support.jobs) must import in the worker, also when storepulse
        # is installed from a wheel and the worker's script sits in the virtual environment.
        PYTHONPATH=os.pathsep.join(p for p in (str(REPOSITORY), os.environ.get("PYTHONPATH")) if p),
    )
    if settings.webhook_allow_private:  # webhook receivers of the test's own, on loopback
        env["STOREPULSE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    return env


def start_worker(settings: Settings, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `storepulse worker` (with RQ's scheduler process) in its own process group.

    Its output goes to `log` when given (read it when a test fails), else nowhere.
    """
    script = Path(sys.executable).with_name("storepulse")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "integration.cli"]
    env = worker_env(settings)
    if log is None:
        return subprocess.Popen(
            [*command, "worker", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    env["STOREPULSE_LOG_LEVEL"] = "INFO"
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "worker", *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the worker and its scheduler process (the whole group) and wait until all are gone.

    Waiting for the worker alone is not enough after SIGKILL: its scheduler process may die a
    moment later, and until then a socket it shares with the worker can keep the worker's
    blocking pop open on the server, which takes the next job for nobody."""
    try:
        os.killpg(process.pid, sig)  # also when the worker is gone and its scheduler process is not
    except ProcessLookupError:
        pass
    process.wait(timeout=60)
    wait_for(lambda: not group_alive(process.pid), 30, every=0.05)


def group_alive(group: int) -> bool:
    """Whether a process of this process group still runs (zombies waiting for a parent don't)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def store_orders(settings: Settings, store_id: int, count: int, seed: int) -> list[int]:
    """Store `count` distinct orders/create deliveries, as the webhook endpoint stores them."""
    ids = []
    with session_scope(settings.database_url) as session:
        for i, (body, _) in enumerate(deliveries(count, seed)):
            received = inbox.receive(
                session,
                source="shopify",
                topic="orders/create",
                delivery_id=f"stored-{seed}-{i}",
                body=body,
                store_id=store_id,
                signature_verified=True,
            )
            ids.append(received.id)
    return ids


def count_status(settings: Settings, status: InboxStatus, ids: list[int] | None = None) -> int:
    with session_scope(settings.database_url) as session:
        query = select(func.count()).select_from(InboxDelivery).where(InboxDelivery.status == status)
        if ids is not None:
            query = query.where(InboxDelivery.id.in_(ids))
        return session.scalar(query) or 0


def wait_for(condition: Callable[[], bool], seconds: float, every: float = 0.2) -> bool:
    """Poll until the condition holds or the time is up; return whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def drain_jobs(settings: Settings, *, waiting_only: bool = False) -> list[Job]:
    """Drain jobs of the ingest queue: waiting ones, or every one that was ever queued and kept."""
    ingest = queue(settings, INGEST)
    ids = list(ingest.get_job_ids())
    if not waiting_only:
        for registry in (FinishedJobRegistry, StartedJobRegistry, FailedJobRegistry, ScheduledJobRegistry):
            ids += registry(queue=ingest).get_job_ids()
    jobs = Job.fetch_many(ids, connection=connection(settings), serializer=JSONSerializer)
    return [job for job in jobs if job is not None and job.func_name == DRAIN]
