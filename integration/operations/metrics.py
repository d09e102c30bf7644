"""Prometheus metrics of every storepulse process, in prometheus-client's multiprocess mode.

Web workers, job workers and the scheduler each count into files of the folder named by
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client reads the variable when first imported, so it must
be in the environment the processes start with); whichever web worker answers `/metrics` adds
every process's files up. Inbox depth and queue lengths are not counted as they change: they are
read from the store and Redis when scraped, by `StoreCollector`.

Labels hold bounded values only (sources, routes, job functions, destination kinds), never an id,
a shop or an address. Recording a metric never raises into the work it describes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from integration.operations.backlog import pending_deliveries
from integration.operations.health import probe_engine, probe_redis
from integration.settings import Settings

logger = logging.getLogger(__name__)

# What a webhook response says of its delivery, by status code (200 is stored or duplicate).
REFUSALS = {
    400: "malformed",
    401: "signature",
    404: "unknown_store",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}
# From a second to a day: deliveries wait seconds when all is well, hours behind an outage.
LATENCY_BUCKETS_SECONDS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
REQUEST_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

WEBHOOK_DELIVERIES = Counter(
    "storepulse_webhook_deliveries",
    "Webhook deliveries answered, by source and outcome (stored, duplicate, ignored, or why refused).",
    ["source", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "storepulse_delivery_processing_seconds",
    "Time from a delivery's receipt to the end of its processing, by source and final status.",
    ["source", "status"],
    buckets=LATENCY_BUCKETS_SECONDS,
)
JOB_FAILURES = Counter(
    "storepulse_job_failures",
    "Job runs that raised, by job function (each failed try, retried or not).",
    ["job"],
)
SYNC_CONTACTS = Counter(
    "storepulse_sync_contacts",
    "Contacts sent to destinations, by destination kind and outcome (sent or failed).",
    ["destination", "outcome"],
)
SYNC_BATCH_FAILURES = Counter(
    "storepulse_sync_batch_failures",
    "Sync batches a destination failed whole, by destination kind (a call that raised).",
    ["destination"],
)
HTTP_REQUESTS = Counter(
    "storepulse_http_requests",
    "Web requests answered, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "storepulse_http_request_duration_seconds",
    "Time to answer a web request, by method and route pattern.",
    ["method", "route"],
    buckets=REQUEST_BUCKETS_SECONDS,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _never_raises(func: _F) -> _F:
    """Log instead of raising: a metric that cannot be recorded must not fail the work it counts."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:  # noqa: BLE001
            logger.exception("metrics: %s failed", func.__name__)
            return None

    return cast(_F, wrapper)


# Whether the delivery being answered was new: set by the inbox, read when the response is counted.
_delivery_new: ContextVar[bool | None] = ContextVar("storepulse_delivery_new", default=None)


def delivery_stored(new: bool) -> None:
    """Note whether the delivery this request carries was new or a redelivery."""
    _delivery_new.set(new)


def forget_delivery() -> None:
    """Forget what the previous request noted (each request starts clean)."""
    _delivery_new.set(None)


@_never_raises
def count_webhook_response(source: str, status: int) -> None:
    """Count one webhook response under its outcome."""
    if status == 200:
        new = _delivery_new.get()
        outcome = "ignored" if new is None else "stored" if new else "duplicate"
    else:
        outcome = REFUSALS.get(status, "error" if status >= 500 else "other")
    WEBHOOK_DELIVERIES.labels(source, outcome).inc()


@_never_raises
def delivery_finished(source: str, status: str, received_at: datetime, finished_at: datetime) -> None:
    """Observe how long a delivery took from receipt to its final status."""
    if received_at.tzinfo is None:  # SQLite hands times back naive; they are UTC
        received_at = received_at.replace(tzinfo=UTC)
    if finished_at.tzinfo is None:
        finished_at = finished_at.replace(tzinfo=UTC)
    DELIVERY_LATENCY.labels(source, status).observe(max(0.0, (finished_at - received_at).total_seconds()))


def count_job_failure(
    job: Any, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> bool:
    """Count a failed job run by its function (an RQ exception handler; the next handlers still run)."""
    try:
        name = job.func_name
    except Exception:  # noqa: BLE001 - a job that cannot be read still counts
        name = "unreadable"
    JOB_FAILURES.labels(name).inc()
    return True


@_never_raises
def sync_batch_recorded(
    destination: str, contact_ids: Iterator[int] | list[int], done: Mapping[int, Any], whole_failed: bool
) -> None:
    """Count a batch's contacts as sent or failed, and the batch if the destination failed it whole."""
    sent = failed = 0
    for contact_id in contact_ids:
        if contact_id in done:
            sent += 1
        else:
            failed += 1
    if sent:
        SYNC_CONTACTS.labels(destination, "sent").inc(sent)
    if failed:
        SYNC_CONTACTS.labels(destination, "failed").inc(failed)
    if whole_failed:
        SYNC_BATCH_FAILURES.labels(destination).inc()


@_never_raises
def request_finished(method: str, route: str, status: int, seconds: float) -> None:
    """Count a web request and observe its time under its route pattern."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


class StoreCollector(Collector):
    """Inbox depth and oldest pending age per source, and RQ queue lengths, read when scraped.

    One grouped query over the inbox's (status, received_at) index and one Redis round trip, each
    with the readiness probe's short timeouts; a store or Redis that does not answer leaves its
    figures out and sets `storepulse_scrape_error`.
    """

    def __init__(self, settings: Settings, queues: Sequence[str]) -> None:
        self.settings = settings
        self.queues = tuple(queues)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        errors = GaugeMetricFamily(
            "storepulse_scrape_error",
            "1 when the part named could not be read for this scrape (database or redis).",
            labels=["part"],
        )
        depth = GaugeMetricFamily(
            "storepulse_inbox_pending", "Deliveries waiting to be processed, by source.", labels=["source"]
        )
        age = GaugeMetricFamily(
            "storepulse_inbox_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting to be processed, by source (absent when none waits).",
            labels=["source"],
        )
        try:
            with Session(probe_engine(self.settings.database_url)) as session:
                backlog = pending_deliveries(session)
            for source in backlog["sources"]:
                depth.add_metric([source["source"]], source["pending"])
                age.add_metric([source["source"]], source["oldest_age_seconds"])
            errors.add_metric(["database"], 0)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the outage instead of failing
            logger.warning("metrics: inbox not readable: %s", type(exc).__name__)
            errors.add_metric(["database"], 1)
        yield depth
        yield age
        queued = GaugeMetricFamily(
            "storepulse_queue_jobs", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "storepulse_queue_failed_jobs", "Jobs in each RQ queue's failed registry.", labels=["queue"]
        )
        try:
            pipe = probe_redis(self.settings).pipeline(transaction=False)
            for name in self.queues:
                pipe.llen(f"rq:queue:{name}")
                pipe.zcard(f"rq:failed:{name}")
            answers = pipe.execute()
            for index, name in enumerate(self.queues):
                queued.add_metric([name], answers[2 * index])
                failed.add_metric([name], answers[2 * index + 1])
            errors.add_metric(["redis"], 0)
        except Exception as exc:  # noqa: BLE001
            logger.warning("metrics: queues not readable: %s", type(exc).__name__)
            errors.add_metric(["redis"], 1)
        yield queued
        yield failed
        yield errors


def render(settings: Settings, queues: Sequence[str]) -> bytes:
    """Return every process's metrics and the store's figures (the inbox, and the depth of each of
    `queues`) in Prometheus's text format."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=settings.metrics_dir)  # type: ignore[no-untyped-call]
    registry.register(StoreCollector(settings, queues))
    return generate_latest(registry)
