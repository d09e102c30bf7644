"""Reads from a real streaming replica: the merchant's pages and API reads use it, changes and
anything that must see them use the primary, and every read says which one answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from integration.errors import ConfigError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.db import dispose_engines, upgrade
from integration.store.redis import connection, forget_connections
from integration.web import replica
from integration.web.app import create_app
from tests.support.builders import bearer, make_store
from tests.support.servers import fresh_database, replicated_postgres
from tests.support.users import make_user, sign_in

HEADER = replica.HEADER
CATCH_UP_SECONDS = 30.0


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    with replicated_postgres() as (primary, standby):
        yield primary, standby


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _caught_up(primary: str, standby: str) -> None:
    """Wait until the standby has replayed everything the primary wrote so far."""
    with psycopg.connect(_conninfo(primary), autocommit=True) as conn:
        written = replica.lsn_number(conn.execute(replica.COMMITTED_POSITION.text).fetchone()[0])  # type: ignore[index]
    deadline = time.monotonic() + CATCH_UP_SECONDS
    with psycopg.connect(_conninfo(standby), autocommit=True) as conn:
        while True:
            replayed = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0]  # type: ignore[index]
            if replayed is not None and replica.lsn_number(replayed) >= written:
                return
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.02)


def _replay(standby: str, *, paused: bool) -> None:
    with psycopg.connect(_conninfo(standby), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


@pytest.fixture
def stores(servers: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """A migrated database on the primary, and the same database as the standby serves it."""
    primary_admin, standby_admin = servers
    with fresh_database(primary_admin) as primary:
        upgrade(primary)
        name = make_url(primary).database
        standby = make_url(standby_admin).set(drivername="postgresql+psycopg", database=name)
        standby_url = standby.render_as_string(hide_password=False)
        _caught_up(primary, standby_url)
        try:
            yield primary, standby_url
        finally:
            _replay(standby_url, paused=False)
            dispose_engines()  # before the database is dropped


@pytest.fixture
def replicated(stores: tuple[str, str], redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    primary, standby = stores
    made = Settings(
        instance_path=tmp_path / "instance",
        database_url=primary,
        database_replica_url=standby,
        redis_url=redis_url,
        secret_key="test-secret-key-0123456789",
        encryption_keys=(Fernet.generate_key().decode(),),
    )
    forget_connections()
    connection(made).flushdb()
    yield made
    forget_connections()


def _client(settings: Settings, **changes: Any) -> FlaskClient:
    names = (
        "instance_path",
        "database_url",
        "database_replica_url",
        "redis_url",
        "secret_key",
        "encryption_keys",
    )
    app = create_app({**{name: getattr(settings, name) for name in names}, **changes})
    app.testing = True
    return app.test_client()


def _accounts(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """API headers of two accounts, both visible on the standby."""
    with session_scope(settings.database_url) as session:
        first = bearer(session, make_store(session).account_id)
        second = bearer(session, make_store(session).account_id)
    assert settings.database_replica_url is not None
    _caught_up(settings.database_url, settings.database_replica_url)
    return first, second


def test_api_reads_come_from_the_replica_and_say_so(replicated: Settings) -> None:
    client = _client(replicated)
    headers, _ = _accounts(replicated)
    for path in ("/api/v1/settings", "/api/v1/summary", "/api/v1/contacts", "/api/v1/orders"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        assert answer.headers[HEADER] == "replica", path


def test_a_read_right_after_a_change_sees_it_from_the_primary_until_the_replica_has_it(
    replicated: Settings,
) -> None:
    assert replicated.database_replica_url is not None
    client = _client(replicated)
    writer, other = _accounts(replicated)
    _replay(replicated.database_replica_url, paused=True)  # the replica falls behind from here

    changed = client.put("/api/v1/settings", json={"time_zone": "Europe/Warsaw"}, headers=writer)
    assert changed.status_code == 200
    assert HEADER not in changed.headers  # a change is the primary's; only reads say where

    read = client.get("/api/v1/settings", headers=writer)
    assert read.headers[HEADER] == "primary"
    assert read.get_json()["time_zone"] == "Europe/Warsaw"  # its own change, at once
    # The replica still holds the old value: reading it there would have been wrong.
    with psycopg.connect(_conninfo(replicated.database_replica_url)) as conn:
        assert conn.execute("SELECT time_zone FROM accounts ORDER BY id LIMIT 1").fetchone() == (
            "Europe/Prague",
        )
    # Another account changed nothing: its reads stay on the replica.
    assert client.get("/api/v1/settings", headers=other).headers[HEADER] == "replica"

    _replay(replicated.database_replica_url, paused=False)
    _caught_up(replicated.database_url, replicated.database_replica_url)
    again = client.get("/api/v1/settings", headers=writer)
    assert again.headers[HEADER] == "replica"
    assert again.get_json()["time_zone"] == "Europe/Warsaw"


@pytest.mark.parametrize("path", ["/api/v1/contacts/stats", "/api/v1/segments"])
def test_a_read_that_stores_on_first_use_runs_on_the_primary_then_reads_the_replica(
    replicated: Settings, path: str
) -> None:
    """The statistics are computed and kept on their first read, the predefined segments created on
    the first visit: the replica refuses the write, the view runs again on the primary."""
    assert replicated.database_replica_url is not None
    client = _client(replicated)
    headers, _ = _accounts(replicated)
    first = client.get(path, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.headers[HEADER] == "primary"
    _caught_up(replicated.database_url, replicated.database_replica_url)
    second = client.get(path, headers=headers)
    assert second.headers[HEADER] == "replica"
    assert second.get_json() == first.get_json()


def test_a_read_that_stores_while_the_replica_lags_keeps_the_position_for_the_next_reads(
    replicated: Settings,
) -> None:
    """The predefined segments created by the rerun on the primary: the next reads do not go back
    to a replica without them (to be refused and rerun again), until it has replayed them."""
    assert replicated.database_replica_url is not None
    client = _client(replicated)
    headers, _ = _accounts(replicated)
    _replay(replicated.database_replica_url, paused=True)
    for _ in range(2):
        answer = client.get("/api/v1/segments", headers=headers)
        assert answer.status_code == 200
        assert answer.headers[HEADER] == "primary"
    with session_scope(replicated.database_url) as session:
        account_id = session.scalar(text("SELECT account_id FROM api_keys ORDER BY id LIMIT 1"))
    assert connection(replicated).get(replica.LSN_KEY.format(account=account_id)) is not None
    _replay(replicated.database_replica_url, paused=False)
    _caught_up(replicated.database_url, replicated.database_replica_url)
    assert client.get("/api/v1/segments", headers=headers).headers[HEADER] == "replica"


def test_a_new_account_signing_in_is_shown_its_pages_however_far_behind_the_replica_is(
    replicated: Settings,
) -> None:
    """Signing in keeps the position for the user's account: its first pages come from the primary
    while the replica has not replayed the account yet."""
    assert replicated.database_replica_url is not None
    _replay(replicated.database_replica_url, paused=True)
    with session_scope(replicated.database_url) as session:
        account_id = make_store(session).account_id
    make_user(replicated, account_id, "new@example.com")
    client = _client(replicated)
    assert sign_in(client, "new@example.com").status_code in (302, 303)
    for path in ("/admin/", "/admin/segments", "/admin/rfm"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers[HEADER] == "primary", path


def test_a_change_by_another_web_process_counts_too(replicated: Settings) -> None:
    """The position lives in Redis: a read on another process waits for a change made on this one."""
    assert replicated.database_replica_url is not None
    writer, _ = _accounts(replicated)
    _replay(replicated.database_replica_url, paused=True)
    assert (
        _client(replicated).put("/api/v1/settings", json={"sunset_days": 90}, headers=writer).status_code
        == 200
    )
    read = _client(replicated).get("/api/v1/settings", headers=writer)
    assert read.headers[HEADER] == "primary"
    assert read.get_json()["sunset_days"] == 90


def _signed_in(settings: Settings) -> FlaskClient:
    """A client signed in as the owner of a new account, once the standby has the account."""
    with session_scope(settings.database_url) as session:
        account_id = make_store(session).account_id
    make_user(settings, account_id, "owner@example.com")
    assert settings.database_replica_url is not None
    _caught_up(settings.database_url, settings.database_replica_url)
    client = _client(settings)
    assert sign_in(client, "owner@example.com").status_code in (302, 303)
    return client


def test_admin_pages_read_from_the_replica(replicated: Settings) -> None:
    client = _signed_in(replicated)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert page.headers[HEADER] == "replica"


def test_a_page_that_stores_on_the_first_visit_runs_on_the_primary_then_reads_the_replica(
    replicated: Settings,
) -> None:
    """The Segments page creates the predefined segments on the first visit."""
    assert replicated.database_replica_url is not None
    client = _signed_in(replicated)
    first = client.get("/admin/segments")
    assert first.status_code == 200
    assert first.headers[HEADER] == "primary"
    _caught_up(replicated.database_url, replicated.database_replica_url)
    second = client.get("/admin/segments")
    assert second.status_code == 200
    assert second.headers[HEADER] == "replica"


def test_who_is_signed_in_is_read_from_the_primary(replicated: Settings) -> None:
    """A user disabled a moment ago is signed out at once, however far behind the replica is."""
    assert replicated.database_replica_url is not None
    client = _signed_in(replicated)
    assert client.get("/admin/").status_code == 200
    _replay(replicated.database_replica_url, paused=True)
    with psycopg.connect(_conninfo(replicated.database_url), autocommit=True) as conn:
        conn.execute("UPDATE users SET disabled_at = now()")
    page = client.get("/admin/")
    assert page.status_code == 302
    assert "/admin/signin" in page.headers["Location"]


def test_an_unreachable_replica_leaves_reads_to_the_primary(replicated: Settings, tmp_path: Path) -> None:
    nowhere = f"postgresql+psycopg://postgres@/postgres?host={tmp_path}"  # no server on that socket
    client = _client(replicated, database_replica_url=nowhere)
    headers, _ = _accounts(replicated)
    for _ in range(2):  # the second read does not wait for the replica again
        answer = client.get("/api/v1/settings", headers=headers)
        assert answer.status_code == 200
        assert answer.headers[HEADER] == "primary"
        assert any(str(tmp_path) in unquote(url) for url in replica._paused_until)  # left alone a while


def test_when_redis_cannot_say_the_primary_answers(replicated: Settings) -> None:
    headers, _ = _accounts(replicated)
    client = _client(replicated, redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    answer = client.get("/api/v1/settings", headers=headers)
    assert answer.status_code == 200
    assert answer.headers[HEADER] == "primary"


def test_without_a_replica_nothing_is_said(replicated: Settings) -> None:
    headers, _ = _accounts(replicated)
    answer = _client(replicated, database_replica_url=None).get("/api/v1/settings", headers=headers)
    assert answer.status_code == 200
    assert HEADER not in answer.headers


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("0/0", "0/1"), ("0/FFFFFFFF", "1/0"), ("16/B374D848", "16/B374D849"), ("9/FFFFFFFF", "A/0")],
)
def test_wal_positions_order_as_numbers(lower: str, higher: str) -> None:
    assert replica.lsn_number(lower) < replica.lsn_number(higher)


def test_a_replica_needs_postgresql_on_both_sides() -> None:
    base = {"SECRET_KEY": "0123456789abcdef", "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL"):
        Settings.from_env({**base, "DATABASE_REPLICA_URL": "postgres://replica/db"})  # SQLite primary
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL"):
        Settings.from_env(
            {**base, "DATABASE_URL": "postgres://primary/db", "DATABASE_REPLICA_URL": "sqlite:///x"}
        )
    made = Settings.from_env(
        {**base, "DATABASE_URL": "postgres://primary/db", "DATABASE_REPLICA_URL": "postgres://r/db"}
    )
    assert made.database_replica_url == "postgresql+psycopg://r/db"
