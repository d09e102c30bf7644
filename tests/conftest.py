"""Fixtures: real PostgreSQL, SQLite and Redis; a real RQ worker; the app, its client and an API shop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rq.serializers import JSONSerializer
from sqlalchemy import text

from integration.settings import Settings, configure
from integration.store import session_scope
from integration.store.db import dispose_engines, get_engine, upgrade
from integration.store.models import Base
from integration.store.redis import connection, forget_connections
from integration.web.app import create_app
from jobs.queues import QUEUES
from tests.support.builders import bearer, make_store
from tests.support.servers import fresh_database, postgres_server, redis_server
from tests.support.workers import DrainingWorker

# The Shopify app and its connected store (`shop`), audiences of a store for syncs (`audience_shop`),
# and the servers and processes of the process lifecycle tests.
pytest_plugins = ["tests.support.shopify", "tests.support.syncs", "tests.support.processes"]

# A fresh checkout has no Hypothesis cache: its first draw builds Unicode tables, which can pass the
# too-slow limit, and a busy 2-core CI machine can pass any per-example deadline.
hypothesis_settings.register_profile(
    "storepulse", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("storepulse")

SERVER_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "STOREPULSE_ENCRYPTION_KEY",
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "APP_URL",
    "PORT",
    "STOREPULSE_INSTANCE_PATH",
    "STOREPULSE_LOG_LEVEL",
    "STOREPULSE_WEBHOOK_ALLOW_PRIVATE",
    "API_RATE_LIMIT_PER_SECOND",
    "API_RATE_LIMIT_BURST",
    "LOG_FORMAT",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the developer's own settings out of the tests, and the tests out of the real instance folder."""
    saved = {k: os.environ.pop(k) for k in SERVER_VARIABLES if k in os.environ}
    os.environ["STOREPULSE_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("instance"))
    # Tests call the API far faster than a client may: the rate limit's own tests turn it on.
    os.environ["API_RATE_LIMIT_PER_SECOND"] = "0"
    yield
    os.environ.pop("STOREPULSE_INSTANCE_PATH", None)
    os.environ.pop("API_RATE_LIMIT_PER_SECOND", None)
    os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server(os.environ.get("TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database for this run."""
    with fresh_database(postgres_admin_url) as url:
        upgrade(url)
        yield url
        dispose_engines()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty store: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        dispose_engines()
        return
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(os.environ.get("TEST_REDIS_URL"), tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def settings(db_url: str, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a test: its store, the test Redis (flushed), its own instance folder."""
    made = Settings(
        instance_path=tmp_path / "instance",
        database_url=db_url,
        redis_url=redis_url,
        secret_key="test-secret-key-0123456789",
        encryption_keys=(Fernet.generate_key().decode(),),
    )
    forget_connections()
    connection(made).flushdb()
    configure(made)
    yield made
    configure(None)
    forget_connections()


@pytest.fixture
def app(settings: Settings) -> Flask:
    overrides = {
        name: getattr(settings, name)
        for name in ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")
    }
    flask_app = create_app(overrides)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def run_worker(settings: Settings) -> object:
    """Drain every queue with a real RQ worker in this process; return whether it ran any job."""

    def run() -> bool:
        worker = DrainingWorker(list(QUEUES), connection=connection(settings), serializer=JSONSerializer)
        # The worker installs its own SIGINT/SIGTERM handlers and leaves them: give pytest its own back,
        # so that Ctrl-C still stops the run.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return worker.work(burst=True, logging_level="WARNING")
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    return run


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers of the resolver (`socket.getaddrinfo`, the network boundary) for the names put in
    (no addresses: the name does not exist); other names and address literals resolve as usual.
    There is no outside network here."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        if not answers[name]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        number = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number))
            for a in answers[name]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def api_shop(settings: Settings) -> dict[str, Any]:
    """A store on the API platform of a new account, and a key of that account:
    {"store": store id, "account": account id, "headers": the key's Authorization header}."""
    with session_scope(settings.database_url) as session:
        store = make_store(session)
        return {"store": store.id, "account": store.account_id, "headers": bearer(session, store.account_id)}


@pytest.fixture
def slept() -> list[float]:
    """The pauses a client took, in seconds (pass `slept.append` as its sleep)."""
    return []


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the test Redis, flushed before and after the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test only, migrated to the newest revision (it goes down and up again)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.sqlite3'}"
        upgrade(url)
        yield url
        dispose_engines()
        return
    with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        upgrade(url)
        yield url
        dispose_engines()
