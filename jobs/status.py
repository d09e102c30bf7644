"""What `storepulse status` shows: live workers and schedulers, queues, failed jobs, the inbox."""

from __future__ import annotations

from typing import Any

import redis
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy.exc import SQLAlchemyError

from integration.operations import backlog
from integration.settings import Settings
from integration.store import session_scope
from integration.store.redis import connection
from jobs.heartbeat import live_processes
from jobs.queues import QUEUES, queue


def snapshot(settings: Settings) -> dict[str, Any]:
    """Return the processes' heartbeats, each queue's counts and the inbox backlog.

    A server that does not answer is reported as such (`redis` / `database`), the rest still shown.
    """
    data: dict[str, Any] = {"redis": "ok", "database": "ok", "processes": [], "queues": [], "inbox": None}
    try:
        data["processes"] = live_processes(connection(settings))
        for name in QUEUES:
            q = queue(settings, name)
            data["queues"].append(
                {
                    "name": name,
                    "waiting": q.count,
                    "running": StartedJobRegistry(queue=q).count,
                    "scheduled": ScheduledJobRegistry(queue=q).count,
                    "failed": FailedJobRegistry(queue=q).count,
                }
            )
    except redis.RedisError as error:
        data["redis"] = f"unreachable: {error}"
    try:
        with session_scope(settings.database_url) as session:
            data["inbox"] = backlog.pending_deliveries(session)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        data["database"] = f"unreachable: {reason}"
    return data
