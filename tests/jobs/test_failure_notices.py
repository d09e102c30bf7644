"""A job that fails for good tells its account, when its arguments say which account it is."""

from __future__ import annotations

import signal

from rq.serializers import JSONSerializer
from sqlalchemy import select

from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Notification, NotificationKind
from integration.store.redis import connection
from jobs.failed import failure_notifier
from jobs.queues import COMPUTE, QUEUES, enqueue
from tests.support import jobs as test_jobs
from tests.support.builders import make_store
from tests.support.workers import DrainingWorker


def _drain(settings: Settings) -> None:
    worker = DrainingWorker(
        list(QUEUES),
        connection=connection(settings),
        serializer=JSONSerializer,
        exception_handlers=[failure_notifier(settings)],
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _notices(settings: Settings) -> list[tuple[int, NotificationKind, str, dict[str, object]]]:
    with session_scope(settings.database_url) as session:
        return [
            (n.account_id, n.kind, n.subject, n.data)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]


def test_a_job_of_a_store_tells_its_account_once_its_retries_are_spent(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        store_id, account_id = store.id, store.account_id
    job = enqueue(settings, COMPUTE, test_jobs.store_job_fails, store_id, retry_intervals_seconds=[0])
    _drain(settings)  # the first failure is retried at once and fails again
    assert job.get_status(refresh=True) == "failed"
    assert _notices(settings) == [
        (
            account_id,
            NotificationKind.JOB_FAILED,
            "job:tests.support.jobs.store_job_fails",
            {"job_id": job.id, "function": "tests.support.jobs.store_job_fails", "error": "RuntimeError"},
        )
    ]
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Notification.occurrences)).one() == 1  # not once per try


def test_a_job_whose_account_cannot_be_told_notifies_no_one(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        make_store(session)
    enqueue(settings, COMPUTE, test_jobs.always_fails, "no account here", retry=False)
    _drain(settings)
    assert _notices(settings) == []
