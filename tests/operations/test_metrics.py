"""Prometheus metrics at /metrics: off unless enabled, behind a token when one is set, and counting
what every process does (web, worker) through prometheus-client's multiprocess folder.

Counters add up over the whole run, so each test compares a scrape after with one before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from integration.errors import ConfigError
from integration.settings import Settings
from integration.store.models import DestinationKind
from jobs.queues import INGEST, enqueue
from tests.support.processes import storepulse
from tests.support.shopify import SHOP, Deliver, app_of, raw
from tests.support.syncs import PUBLIC_ADDRESS, add_sync, audience, runner

TOKEN = "metrics-token-0123456789"
FOLDER = os.environ["PROMETHEUS_MULTIPROC_DIR"]  # set for the whole suite in tests/__init__.py

# The Shopify app of `tests.support.shopify` (so `deliver` posts to it), with metrics on.
pytestmark = pytest.mark.shopify_app(metrics_enabled=True, metrics_dir=FOLDER)
HOOK = "https://hooks.example.com/storepulse"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def app_with(settings: Settings, **metrics: Any) -> Flask:
    return app_of(settings, **metrics)


def scrape(client: FlaskClient, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_suite_counts_in_multiprocess_mode() -> None:
    assert values.ValueClass is not values.MutexValue  # the folder was set before the library loaded


def test_metrics_are_off_unless_enabled(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_a_token_when_set_is_required(settings: Settings) -> None:
    guarded = app_with(settings, metrics_enabled=True, metrics_dir=FOLDER, metrics_token=TOKEN).test_client()
    assert guarded.get("/metrics").status_code == 401
    wrong = guarded.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert "storepulse_queue_jobs" in "".join(str(k) for k in scrape(guarded, TOKEN))


def test_metrics_need_the_shared_folder_to_be_switched_on(tmp_path: Path) -> None:
    base = {"STOREPULSE_INSTANCE_PATH": str(tmp_path), "STOREPULSE_METRICS": "on"}
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        Settings.from_env(base | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})
    made = Settings.from_env(
        base | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "STOREPULSE_METRICS_TOKEN": TOKEN}
    )
    assert (made.metrics_enabled, made.metrics_dir, made.metrics_token) == (True, str(tmp_path), TOKEN)
    assert TOKEN not in repr(made)


def test_deliveries_are_counted_by_outcome_and_the_inbox_by_depth_and_age(
    shop: int, deliver: Deliver, shopify_client: FlaskClient, run_worker: Callable[[], bool]
) -> None:
    before = scrape(shopify_client)
    body = raw("orders_create")
    answers = [
        deliver("orders/create", body, webhook_id="metrics-1"),
        deliver("orders/create", body, webhook_id="metrics-1"),  # Shopify's retry of the same delivery
        deliver("orders/create", body, secret="a-forged-secret-0123"),
        deliver("orders/create", body, shop="nobody-here.myshopify.com"),
        deliver("orders/create", body, headers={"X-Shopify-Topic": None}),
        deliver("orders/create", b" " * (10 * 1024 * 1024 + 1)),  # over the endpoint's limit
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 400, 413]

    waiting = scrape(shopify_client)
    outcomes = {
        outcome: value(waiting, "storepulse_webhook_deliveries_total", source="shopify", outcome=outcome)
        - value(before, "storepulse_webhook_deliveries_total", source="shopify", outcome=outcome)
        for outcome in ("stored", "duplicate", "signature", "unknown_store", "malformed", "too_large")
    }
    assert outcomes == {
        "stored": 1,
        "duplicate": 1,
        "signature": 1,
        "unknown_store": 1,
        "malformed": 1,
        "too_large": 1,
    }
    assert value(waiting, "storepulse_inbox_pending", source="shopify") == 1
    assert value(waiting, "storepulse_inbox_oldest_pending_age_seconds", source="shopify") >= 0
    assert ("storepulse_inbox_oldest_pending_age_seconds", frozenset({("source", "shopify")})) in waiting
    assert value(waiting, "storepulse_queue_jobs", queue="ingest") == 1  # the store's drain
    assert value(waiting, "storepulse_scrape_error", part="database") == 0
    assert value(waiting, "storepulse_scrape_error", part="redis") == 0

    run_worker()
    done = scrape(shopify_client)
    assert value(done, "storepulse_inbox_pending", source="shopify") == 0
    assert ("storepulse_inbox_oldest_pending_age_seconds", frozenset({("source", "shopify")})) not in done
    assert value(done, "storepulse_queue_jobs", queue="ingest") == 0
    processed = {"source": "shopify", "status": "processed"}
    assert (
        value(done, "storepulse_delivery_processing_seconds_count", **processed)
        - value(before, "storepulse_delivery_processing_seconds_count", **processed)
        == 1
    )


def test_requests_are_timed_per_route_pattern_not_per_path(
    shopify_client: FlaskClient, shopify_settings: Settings
) -> None:
    before = scrape(shopify_client)
    for source_id in (987654, 987655):  # no such email sources
        assert shopify_client.post(f"/webhooks/email/sendgrid/{source_id}", data=b"[]").status_code == 404
    assert shopify_client.get("/healthz").status_code == 200
    after = scrape(shopify_client)

    route = "/webhooks/email/sendgrid/<int:source_id>"
    assert (
        value(after, "storepulse_http_request_duration_seconds_count", method="POST", route=route)
        - value(before, "storepulse_http_request_duration_seconds_count", method="POST", route=route)
        == 2
    )
    assert (
        value(after, "storepulse_http_requests_total", method="POST", route=route, status="404")
        - value(before, "storepulse_http_requests_total", method="POST", route=route, status="404")
        == 2
    )
    assert (
        value(after, "storepulse_webhook_deliveries_total", source="sendgrid", outcome="unknown_store")
        - value(before, "storepulse_webhook_deliveries_total", source="sendgrid", outcome="unknown_store")
        == 2
    )
    assert value(after, "storepulse_http_requests_total", method="GET", route="/healthz", status="200") >= 1
    assert not any("987654" in str(labels) for _, labels in after)


def test_sync_sends_and_failures_are_counted_per_destination(
    settings: Settings, dns: dict[str, list[str]]
) -> None:
    client = app_with(settings, metrics_enabled=True, metrics_dir=FOLDER).test_client()
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    shop = audience(settings, 3)
    sync_id = add_sync(
        settings, shop, DestinationKind.WEBHOOK, {"url": HOOK}, {"secret": "whsec_0123456789abcdef"}
    )
    before = scrape(client)
    run = runner(settings, [])
    with responses.RequestsMock() as vendor:
        vendor.post(HOOK, status=503)
        assert run(sync_id)["failed"] == 3
        vendor.replace(responses.POST, HOOK, json={})
        assert run(sync_id)["adds"] == 3
        assert json.loads(vendor.calls[-1].request.body or b"{}")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("storepulse_sync_contacts_total", destination="webhook", outcome="sent") == 3
    assert delta("storepulse_sync_contacts_total", destination="webhook", outcome="failed") == 3
    assert delta("storepulse_sync_batch_failures_total", destination="webhook") == 1


def test_a_separate_worker_process_counts_into_the_same_folder(
    shop: int, deliver: Deliver, shopify_client: FlaskClient, shopify_settings: Settings, tmp_path: Path
) -> None:
    from jobs.ingest import drain_inbox_job

    before = scrape(shopify_client)
    assert deliver("orders/create", raw("orders_create")).status_code == 200
    # A job that raises: called without the arguments it needs.
    enqueue(shopify_settings, INGEST, drain_inbox_job, retry=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env |= {
        "DATABASE_URL": shopify_settings.database_url,
        "REDIS_URL": shopify_settings.redis_url or "",
        "SECRET_KEY": shopify_settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": ",".join(shopify_settings.encryption_keys),
        "STOREPULSE_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "PROMETHEUS_MULTIPROC_DIR": FOLDER,
    }
    worker = storepulse("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr

    after = scrape(shopify_client)  # this process read what the worker process wrote
    processed = {"source": "shopify", "status": "processed"}
    assert (
        value(after, "storepulse_delivery_processing_seconds_count", **processed)
        - value(before, "storepulse_delivery_processing_seconds_count", **processed)
        == 1
    )
    job = {"job": "jobs.ingest.drain_inbox_job"}
    assert (
        value(after, "storepulse_job_failures_total", **job)
        - value(before, "storepulse_job_failures_total", **job)
        == 1
    )
    assert value(after, "storepulse_queue_failed_jobs", queue="ingest") == 1
    assert value(after, "storepulse_inbox_pending", source="shopify") == 0
    assert SHOP not in json.dumps(sorted(str(k) for k in after))
