"""Failed jobs, kept FAILURE_TTL_SECONDS: each one's queue, function and error, and putting them back."""

from __future__ import annotations

from collections.abc import Collection

from rq.registry import FailedJobRegistry

from integration.settings import Settings
from jobs.queues import QUEUES, queue


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
