"""Import jobs: run an uploaded CSV import; re-enqueue imports whose job was lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import TracebackType

from rq.exceptions import AbandonedJobError
from rq.job import Job, JobStatus
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors.csv.importer import Report, import_csv
from connectors.csv.reader import CsvError
from connectors.csv.upload import PartsReader
from integration import notifications
from integration.settings import Settings, get_settings
from integration.store import session_scope
from integration.store.models import Import, ImportPart, ImportStatus, NotificationKind, Store
from integration.store.types import utcnow
from jobs.compute import request_rfm_after_orders, request_stats_refresh
from jobs.outage import database_reachable, database_unreachable_error
from jobs.queues import (
    INGEST,
    RETRY_INTERVALS_SECONDS,
    enqueue_or_sweep,
    fetch_job,
    job_will_run,
)

logger = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=2)
# An import's try may take this long (other jobs: a quarter of an hour). A million customers take
# about three minutes on two cores (bench.csv_import); two million orders, at the benchmark's rate
# for 200,000, about a quarter of an hour. It is also how long a try whose worker died unseen
# (killed with it) counts as under way, before RQ's upkeep finds it.
IMPORT_TIMEOUT_SECONDS = 3600
# A file checked and never started is let go after this long.
KEEP_CHECKED = timedelta(days=1)


def import_file_job(import_id: int) -> dict[str, int]:
    """Import an uploaded file, recording progress as it goes; a failed file is recorded, not retried."""
    url = get_settings().database_url
    with session_scope(url) as session:
        job = session.get(Import, import_id)
        if job is None or job.status in (ImportStatus.FINISHED, ImportStatus.CHECKED):
            return {}  # done already, or still waiting for the merchant to start it
        job.status, job.started_at, job.failure = ImportStatus.RUNNING, utcnow(), None
        store_id, kind, encoding = job.store_id, job.kind, job.encoding

    def record(report: Report, **final: object) -> None:
        with session_scope(url) as session:
            row = session.get(Import, import_id)
            if row is not None:
                row.layout, row.bytes_read, row.rows_read = report.layout, report.bytes_read, report.rows_read
                row.records_written, row.records_unchanged = report.written, report.unchanged
                row.records_duplicate = report.duplicate
                row.rows_failed, row.errors = report.failed, list(report.errors)
                for name, value in final.items():
                    setattr(row, name, value)

    try:
        report = import_csv(
            url, store_id, kind, PartsReader(url, import_id), encoding=encoding, progress=record
        )
    except CsvError as exc:
        record(Report(), status=ImportStatus.FAILED, failure=str(exc), finished_at=utcnow())
        with session_scope(url) as session:
            _tell(session, import_id, NotificationKind.IMPORT_FAILED)
        return {"failed": 1}
    record(report, status=ImportStatus.FINISHED, finished_at=utcnow())
    with session_scope(url) as session:  # the file's bytes are no longer needed
        session.execute(delete(ImportPart).where(ImportPart.import_id == import_id))
        store = session.get(Store, store_id)
        account_id = store.account_id if store is not None else None
        _tell(session, import_id, NotificationKind.IMPORT_FINISHED)
    if account_id is not None and report.written:
        request_stats_refresh(get_settings(), account_id)
        if kind == "orders":  # the buyers were folded when the import ended: RFM scores follow
            request_rfm_after_orders(get_settings(), account_id)
    return {"rows": report.rows_read, "written": report.written, "failed": report.failed}


def queue_import(settings: Settings, import_id: int) -> None:
    """Queue an import's job (an outage leaves it to the sweeper), told when a try fails; the job
    is named after the import, so that the sweeper can tell whether it still lives."""
    enqueue_or_sweep(
        settings,
        INGEST,
        import_file_job,
        import_id,
        job_id=_job_id(import_id),
        on_failure=import_try_failed,
        timeout_seconds=IMPORT_TIMEOUT_SECONDS,
    )


def _job_id(import_id: int) -> str:
    return f"import-{import_id}"


def import_try_failed(
    job: Job,
    connection: object,
    error_type: type[BaseException] | None = None,
    error: BaseException | None = None,
    traceback: TracebackType | None = None,
) -> None:
    """A try of an import's job failed on an error of no row's making (a storer killed, the
    database refusing writes, the time limit), or its worker died with it (found abandoned).

    While the job will be tried again the import stays running (the records stored so far are
    kept, and the next try finds them stored); with its retries spent it is failed, saying so,
    and the account is told. The error's class only: a database's message may quote a record's
    personal data.
    """
    (import_id,) = job.args
    url = get_settings().database_url
    if error is not None and (
        not isinstance(error, Exception)
        or (database_unreachable_error(error) and database_reachable(url) is not None)
    ):
        # An interruption (the worker stopping) or a database out of reach: the worker gives such a
        # try back with its tries untouched (jobs.worker). Its own test for an interruption is
        # narrower; a try it fails after all is left to the sweeper.
        return
    name = error_type.__name__ if error_type is not None else "none"
    if job.should_retry:
        logger.warning("import %s stopped (%s), tried again: %s left", import_id, name, job.retries_left)
        return
    with session_scope(url) as session:
        if error_type is None or issubclass(error_type, AbandonedJobError):
            _fail(session, import_id, STOPPED_WITH_PROCESS)
        else:
            _fail(session, import_id, STOPPED_ON_ERROR.format(error=name))


# Why an import stopped, as `Import.failure` keeps it (the admin says it in the merchant's words).
KEPT = "the records stored before it are kept"
STOPPED_WITH_PROCESS = f"the import stopped when the process running it ended; {KEPT}"
STOPPED_ON_ERROR = "the import stopped on an error ({error}); " + KEPT


def _fail(session: Session, import_id: int, failure: str) -> None:
    """Fail an import still under way, saying why, and tell its account."""
    row = session.get(Import, import_id, with_for_update=True)
    if row is None or row.status in (ImportStatus.FINISHED, ImportStatus.FAILED):
        return
    row.status, row.failure, row.finished_at = ImportStatus.FAILED, failure, utcnow()
    _tell(session, import_id, NotificationKind.IMPORT_FAILED)


def _tell(session: Session, import_id: int, kind: NotificationKind) -> None:
    """Tell the account that an import finished or failed, with its counts."""
    row = session.get(Import, import_id)
    store = session.get(Store, row.store_id) if row is not None else None
    if row is None or store is None:
        return
    notifications.notify(
        session,
        store.account_id,
        kind,
        f"import:{row.id}",
        {
            "import_id": row.id,
            "store_id": store.id,
            "filename": row.filename,
            "rows": row.rows_read,
            "written": row.records_written,
            "failed": row.rows_failed,
        },
    )


def sweep_imports_job() -> int:
    """Queue again the imports still queued after SWEEP_AFTER whose job is lost (say while Redis was
    down) or over; not one whose job waits its turn or has just been taken (it would run twice).

    A running import whose job is over (failed for good without its import being told, say while
    the database was down) is failed, saying so: nothing would end it otherwise. So is one whose job
    is gone, once no try of it can still be under way or waiting for its retry (LOST_AFTER: a job
    queued by an earlier version has another name). Files checked and not started within
    KEEP_CHECKED are deleted with their import.
    """
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        stale = select(Import.id).where(
            Import.status == ImportStatus.CHECKED, Import.created_at < utcnow() - KEEP_CHECKED
        )
        session.execute(delete(ImportPart).where(ImportPart.import_id.in_(stale)))
        session.execute(delete(Import).where(Import.id.in_(stale)))
        queued = session.scalars(
            select(Import.id).where(
                Import.status == ImportStatus.QUEUED, Import.created_at < utcnow() - SWEEP_AFTER
            )
        ).all()
        running = session.execute(
            select(Import.id, Import.started_at).where(
                Import.status == ImportStatus.RUNNING, Import.started_at < utcnow() - SWEEP_AFTER
            )
        ).all()
    again = 0
    for import_id in queued:
        job = fetch_job(settings, _job_id(import_id))
        if job is not None and _alive(settings, job):
            continue
        if job is not None:
            job.delete()  # over: its new run starts from a clean record, not from its fields
        queue_import(settings, import_id)
        again += 1
    for import_id, started_at in running:
        job = fetch_job(settings, _job_id(import_id))
        if job is None:
            over = started_at is not None and started_at < utcnow() - LOST_AFTER
        else:
            over = not _alive(settings, job)
        if over:
            with session_scope(settings.database_url) as session:
                _fail(session, import_id, STOPPED_WITH_PROCESS)
    return again


# A try runs IMPORT_TIMEOUT_SECONDS at most and waits at most the longest retry interval for the next.
LOST_AFTER = timedelta(seconds=IMPORT_TIMEOUT_SECONDS + max(RETRY_INTERVALS_SECONDS)) + timedelta(minutes=15)


def _alive(settings: Settings, job: Job) -> bool:
    """Whether the job is under way (a worker that died with it is found by RQ's upkeep, which
    retries or fails it), or still to run: queued, scheduled for its retry or deferred."""
    return job.get_status() == JobStatus.STARTED or job_will_run(settings, job)
