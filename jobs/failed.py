"""Failed jobs, kept FAILURE_TTL_SECONDS: each one's queue, function and error, and putting them back."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any

from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration import notifications
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Import, NotificationKind, SegmentExport, Store, Sync
from jobs.queues import QUEUES, queue

logger = logging.getLogger(__name__)

# Jobs that tell the account about their own failure (an export's or an import's "failed"
# notice): not twice.
REPORT_OWN_FAILURE = frozenset({"jobs.compute.export_segment_job", "jobs.imports.import_file_job"})

ExceptionHandler = Callable[
    [Job, type[BaseException] | None, BaseException | None, TracebackType | None], bool
]


def failed_jobs(settings: Settings) -> list[dict[str, str]]:
    """List the failed jobs of every queue with the last line of each one's error."""
    rows: list[dict[str, str]] = []
    for name in QUEUES:
        q = queue(settings, name)
        registry = FailedJobRegistry(queue=q)
        for job in q.job_class.fetch_many(
            registry.get_job_ids(), connection=q.connection, serializer=q.serializer
        ):
            if job is not None:
                result = job.latest_result()
                trace = ((result.exc_string if result else "") or "").strip().splitlines()
                rows.append(
                    {
                        "id": job.id,
                        "queue": name,
                        "function": job.func_name or "",
                        "error": trace[-1] if trace else "",  # the exception's own line
                    }
                )
    return rows


def requeue_failed(settings: Settings, job_ids: Collection[str] = (), *, every: bool = False) -> int:
    """Put the failed jobs named (or, with `every`, all of them) back on their queues; return how many."""
    count = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(settings, name))
        for job_id in registry.get_job_ids():
            if every or job_id in job_ids:
                registry.requeue(job_id)
                count += 1
    return count


def failure_notifier(settings: Settings) -> ExceptionHandler:
    """An RQ exception handler telling the account of a job that failed for good (retries spent).

    The account comes from the job's arguments (an account, store, sync, import or export id); a job
    whose account cannot be told from them is only logged and counted, never guessed.
    """

    def notify_failure(
        job: Job, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        try:
            if job.should_retry or job.func_name in REPORT_OWN_FAILURE:
                return True
            arguments = _arguments(job)
            with session_scope(settings.database_url) as session:
                account_id = _account_of(session, arguments)
                if account_id is not None:
                    notifications.notify(
                        session,
                        account_id,
                        NotificationKind.JOB_FAILED,
                        f"job:{job.func_name}"[:64],
                        {
                            "job_id": job.id,
                            "function": job.func_name,
                            "error": exc_type.__name__ if exc_type else None,
                        },
                    )
        except Exception:  # a notice that cannot be made must not hide the job's own failure
            logger.exception("could not record the failure of job %s as a notification", job.id)
        return True

    return notify_failure


def _arguments(job: Job) -> dict[str, Any]:
    """The job's arguments by parameter name (empty when its function cannot be read)."""
    try:
        bound = inspect.signature(job.func).bind_partial(*job.args, **job.kwargs)
    except (TypeError, ValueError, AttributeError, ImportError):
        return {}
    return dict(bound.arguments)


def _account_of(session: Session, arguments: dict[str, Any]) -> int | None:
    """The account a job's arguments name, directly or through what they point at."""

    def number(name: str) -> int | None:
        value = arguments.get(name)
        return value if type(value) is int else None

    account_id = number("account_id")
    if account_id is not None:
        return account_id
    lookups = (
        ("store_id", select(Store.account_id).where(Store.id == number("store_id"))),
        ("sync_id", select(Sync.account_id).where(Sync.id == number("sync_id"))),
        ("export_id", select(SegmentExport.account_id).where(SegmentExport.id == number("export_id"))),
        (
            "import_id",
            select(Store.account_id)
            .join(Import, Import.store_id == Store.id)
            .where(Import.id == number("import_id")),
        ),
    )
    for name, query in lookups:
        if number(name) is not None:
            return session.scalar(query)
    return None
