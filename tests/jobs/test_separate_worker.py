"""A job enqueued by the web process runs in a `storepulse worker --burst` started separately.

Once on the embedded defaults (SQLite file and embedded Redis in the instance folder), once on
PostgreSQL and REDIS_URL, as in production.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from integration.accounts import create_api_key
from integration.settings import configure
from integration.store import session_scope
from integration.store.db import dispose_engines, upgrade
from integration.store.redis import forget_connections
from integration.web.app import create_app
from tests.support.builders import make_store
from tests.support.processes import storepulse


@pytest.fixture(params=["embedded", "servers"])
def environment(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env["STOREPULSE_INSTANCE_PATH"] = str(tmp_path / "instance")
    if request.param == "servers":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["SECRET_KEY"] = "separate-worker-secret"
        env["STOREPULSE_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    for key in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "STOREPULSE_ENCRYPTION_KEY",
        "STOREPULSE_INSTANCE_PATH",
    ):
        if key in env:
            monkeypatch.setenv(key, env[key])
    yield env
    configure(None)
    forget_connections()
    dispose_engines()


def test_the_worker_process_runs_what_the_web_process_enqueued(environment: dict[str, str]) -> None:
    app = create_app()
    settings = app.extensions["storepulse"]
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        _, token = create_api_key(session, make_store(session).account_id)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    job_id = client.post("/api/v1/engagement/reclassify", headers=headers).get_json()["id"]

    worker = storepulse("worker", "--burst", env=environment)
    assert worker.returncode == 0, worker.stderr

    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert job["status"] == "finished"
    assert job["result"] == 0
