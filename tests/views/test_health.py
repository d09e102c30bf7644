"""Probes: /healthz says the process serves, /readyz that the store, Redis and the schema are ready.

Both answer without credentials; /readyz names what is not ready and gives up on a server that
does not answer instead of hanging.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from flask.testing import FlaskClient
from sqlalchemy import text

from integration.settings import Settings
from integration.store.db import alembic_config, dispose_engines, get_engine, upgrade
from integration.web.app import create_app
from tests.support.servers import fresh_database, reserved_port

APP_FIELDS = ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")


def client_for(settings: Settings) -> FlaskClient:
    app = create_app({name: getattr(settings, name) for name in APP_FIELDS})
    app.testing = True
    return app.test_client()


def database_key(settings: Settings) -> str:
    return "sqlite" if settings.database_url.startswith("sqlite") else "postgres"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that takes connections and never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_healthz_answers_without_touching_the_database_or_redis(settings: Settings) -> None:
    with reserved_port() as closed:
        down = replace(
            settings,
            database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed}/nothing",
            redis_url=f"redis://127.0.0.1:{closed}/0",
        )
        answer = client_for(down).get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_readyz_answers_200_when_the_store_redis_and_migrations_are_ready(
    client: FlaskClient, settings: Settings
) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {database_key(settings): "ok", "redis": "ok", "migrations": "ok"}


def test_readyz_names_redis_when_it_is_down(settings: Settings) -> None:
    with reserved_port() as closed:
        answer = client_for(replace(settings, redis_url=f"redis://127.0.0.1:{closed}/0")).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {database_key(settings): "ok", "redis": "unreachable", "migrations": "ok"}


def test_readyz_gives_up_on_a_redis_that_does_not_answer(settings: Settings, silent_server: int) -> None:
    answer = client_for(replace(settings, redis_url=f"redis://127.0.0.1:{silent_server}/0")).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["redis"] == "timed out"


def test_readyz_names_postgresql_when_it_is_down_and_shows_no_address(settings: Settings) -> None:
    with reserved_port() as closed:
        url = f"postgresql+psycopg://storepulse@127.0.0.1:{closed}/storepulse"
        answer = client_for(replace(settings, database_url=url)).get("/readyz")
    assert answer.status_code == 503
    body: dict[str, Any] = answer.get_json()
    assert body == {
        "postgres": "unreachable",
        "redis": "ok",
        "migrations": "unknown: database not reachable",
    }
    assert str(closed) not in answer.get_data(as_text=True)


def test_readyz_gives_up_on_a_postgresql_that_does_not_answer(settings: Settings, silent_server: int) -> None:
    url = f"postgresql+psycopg://storepulse@127.0.0.1:{silent_server}/storepulse"
    answer = client_for(replace(settings, database_url=url)).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["postgres"] == "timed out"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_readyz_answers_503_while_the_database_is_a_migration_behind(
    postgres_admin_url: str, settings: Settings
) -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    with fresh_database(postgres_admin_url) as url:
        try:
            upgrade(url)
            config = alembic_config(url)
            with get_engine(url).begin() as connection:  # a database an upgrade has not reached yet
                config.attributes["connection"] = connection
                command.downgrade(config, "-1")
            client = client_for(replace(settings, database_url=url))

            behind = client.get("/readyz")
            assert behind.status_code == 503
            assert behind.get_json() == {
                "postgres": "ok",
                "redis": "ok",
                "migrations": f"behind: database at {previous}, this version needs {head} "
                "(run storepulse db upgrade)",
            }

            upgrade(url)
            assert client.get("/readyz").status_code == 200
        finally:
            dispose_engines()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_readyz_gives_up_on_a_database_whose_migration_table_is_locked(settings: Settings) -> None:
    """The probe's statements have a time limit of their own (set in its transaction, which a
    pooler in front of PostgreSQL lets through): a locked table answers "timed out", not a hang."""
    with get_engine(settings.database_url).connect() as blocker:
        blocker.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        # Without a limit the probe would wait for the lock: let go of it then, so that the test fails.
        release = threading.Timer(15, blocker.rollback)
        release.start()
        try:
            started = time.monotonic()
            answer = client_for(settings).get("/readyz")
            waited = time.monotonic() - started
        finally:
            release.cancel()
    assert answer.status_code == 503
    assert answer.get_json()["postgres"] == "timed out"
    assert waited < 10
