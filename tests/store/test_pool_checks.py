"""Pooled PostgreSQL connections: one the server closed is never handed out, and a connection used a
moment ago is handed out without a round trip."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from integration.settings import Settings
from integration.store import db
from integration.store.redis import TCP_KEEPALIVES, forget_connections, keepalive_options
from integration.store.redis import connection as connection_to


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    # The engine get_engine builds, on its own pool, with the pings it sends counted.
    engine = db._create_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(postgres_url: str, pid: int) -> None:
    other = create_engine(postgres_url, poolclass=NullPool)
    try:
        with other.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        other.dispose()
    time.sleep(0.1)  # the server's goodbye reaches the pooled connection's socket


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(
    engine: Engine, pings: list[Any]
) -> None:
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_the_server_ended_is_replaced_before_use(
    engine: Engine, pings: list[Any], postgres_url: str
) -> None:
    ended = _backend(engine)
    _terminate(postgres_url, ended)
    # Used a moment ago, so it would go unpinged; its socket holds the server's goodbye.
    replaced = _backend(engine)
    assert replaced != ended
    assert len(pings) == 1  # the goodbye was noticed, the ping failed, a new connection was opened
    assert _backend(engine) == replaced


def test_a_connection_idle_longer_than_the_limit_is_pinged(
    engine: Engine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.05)
    time.sleep(0.1)
    assert _backend(engine) == first  # pinged, alive, kept
    assert len(pings) == 1
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 60.0)
    assert _backend(engine) == first
    assert len(pings) == 1


def test_a_session_after_a_server_side_end_of_every_connection_works(postgres_url: str) -> None:
    engine = db._create_engine(postgres_url)
    try:
        with engine.connect() as a, engine.connect() as b:
            pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (a, b)]
        for pid in pids:
            _terminate(postgres_url, pid)
        for _ in range(3):
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_connections_to_the_store_and_to_redis_notice_a_silent_server_within_seconds(
    engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    """Keepalives on every connection: a server gone silent fails a waiting statement or command
    after about 25 s, not after the kernel's two hours."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        parameters = driver.info.get_parameters()
    asked = {name: str(value) for name, value in db.TCP_KEEPALIVES.items()}
    assert {name: parameters.get(name) for name in asked} == asked

    forget_connections()
    try:
        settings = Settings(
            instance_path=tmp_path,
            database_url="sqlite://",
            redis_url=redis_url,
            secret_key="test-secret-key-0123456789",
            encryption_keys=(),
        )
        client = connection_to(settings)
        assert client.ping()  # over TCP or a Unix socket, whichever the tests' Redis is
        if redis_url.startswith("redis://"):
            sock = client.connection_pool._available_connections[0]._sock
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        forget_connections()


def test_keepalives_go_only_to_redis_over_tcp() -> None:
    """A `unix://` REDIS_URL takes no keepalive options: redis-py's Unix connection refuses them."""
    assert keepalive_options("unix:///run/redis/redis.sock?db=2") == {}
    for url in ("redis://redis:6379/0", "rediss://user:pw@redis.example.com:6380/1"):
        assert keepalive_options(url) == {
            "socket_keepalive": True,
            "socket_keepalive_options": TCP_KEEPALIVES,
        }
    client = redis.Redis.from_url("unix:///nowhere.sock", **keepalive_options("unix:///nowhere.sock"))
    with pytest.raises(redis.ConnectionError):  # not a TypeError for the options
        client.ping()


def test_what_the_database_url_says_of_its_connections_is_kept(postgres_url: str) -> None:
    """An operator's keepalive setting and `options` in DATABASE_URL stay; ours fill in the rest,
    and the session still runs in UTC."""
    url = make_url(postgres_url).update_query_dict(
        {
            "keepalives_idle": "42",
            # Given twice: both are kept.
            "options": [
                "-c application_name=by-the-operator",
                "-c TimeZone=Europe/Warsaw -c search_path=public",
            ],
        }
    )
    engine = db._create_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            parameters = driver.info.get_parameters()
            shown = [
                connection.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("application_name", "TimeZone", "search_path")
            ]
    finally:
        engine.dispose()
    assert parameters["keepalives_idle"] == "42"
    assert parameters["keepalives_count"] == str(db.TCP_KEEPALIVES["keepalives_count"])
    assert shown == ["by-the-operator", "UTC", "public"]
