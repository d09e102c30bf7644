"""`storepulse status`: live workers and schedulers, queue lengths, failed jobs, the inbox backlog."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from integration.cli import cli
from integration.ingest import inbox
from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.redis import connection, forget_connections
from jobs.heartbeat import WAITING_FOR_DATABASE, Heartbeat
from jobs.queues import COMPUTE, INGEST, enqueue
from tests.support.jobs import add, always_fails


def status(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> Any:
    monkeypatch.setattr("integration.cli.common.get_settings", lambda: settings)
    result = CliRunner().invoke(cli, ["status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_processes_queues_failed_jobs_and_pending_deliveries(
    settings: Settings, run_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    once = settings.with_overrides({"job_retries": 0})
    configure(once)
    enqueue(once, COMPUTE, always_fails, "card declined")
    run_worker()
    enqueue(once, INGEST, add, 1, 2)
    enqueue(once, INGEST, add, 3, 4)
    with session_scope(once.database_url) as session:
        for n in range(3):
            inbox.receive(session, source="sendgrid", topic="events", delivery_id=f"d{n}", body=b"[]")
    worker = Heartbeat(connection(once), "worker")
    worker.set_state(WAITING_FOR_DATABASE)
    Heartbeat(connection(once), "scheduler").beat()

    data = json.loads(status(monkeypatch, once, "--json"))
    assert (data["redis"], data["database"]) == ("ok", "ok")
    assert [(p["kind"], p["state"]) for p in data["processes"]] == [
        ("scheduler", "running"),
        ("worker", "waiting for database"),
    ]
    assert data["processes"][1]["pid"] == worker.pid
    queues = {q["name"]: q for q in data["queues"]}
    assert (queues["ingest"]["waiting"], queues["ingest"]["failed"]) == (2, 0)
    assert (queues["compute"]["waiting"], queues["compute"]["failed"]) == (0, 1)
    assert data["inbox"]["pending"] == 3
    assert data["inbox"]["sources"][0]["source"] == "sendgrid"
    assert data["inbox"]["oldest_age_seconds"] >= 0

    text = status(monkeypatch, once)
    assert "worker" in text
    assert "waiting for database" in text
    assert "ingest   2 waiting" in text
    assert "compute  0 waiting, 0 running, 0 scheduled for retry, 1 failed" in text
    assert "inbox: 3 pending" in text

    worker.stop()  # a process that leaves drops out at once
    data = json.loads(status(monkeypatch, once, "--json"))
    assert [p["kind"] for p in data["processes"]] == ["scheduler"]


def test_status_still_answers_when_redis_is_unreachable(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = replace(settings, redis_url=f"unix://{tmp_path / 'no-redis.sock'}")
    forget_connections()
    data = json.loads(status(monkeypatch, gone, "--json"))
    assert data["redis"].startswith("unreachable")
    assert data["database"] == "ok"
    assert data["inbox"]["pending"] == 0
    assert "redis: unreachable" in status(monkeypatch, gone)
