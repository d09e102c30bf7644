"""API keys are rate-limited: a token bucket per key, in Redis, answering 429 with Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from integration.errors import ConfigError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import ApiKey
from integration.store.redis import connection
from integration.web import limiter
from integration.web.app import create_app
from tests.support.builders import bearer, make_store
from tests.support.servers import redis_server

SUMMARY = "/api/v1/summary"
# A bucket of three that takes a hundred seconds to earn a request back: nothing refills during a test.
SLOW = {"api_rate_limit_per_second": 0.01, "api_rate_limit_burst": 3}

MakeClient = Callable[..., FlaskClient]


@pytest.fixture
def make_client(settings: Settings) -> MakeClient:
    """A client of a newly built app (a new web process) with these settings."""

    def make(**overrides: Any) -> FlaskClient:
        config = {
            name: getattr(settings, name)
            for name in ("instance_path", "database_url", "redis_url", "secret_key", "encryption_keys")
        }
        app = create_app({**config, **SLOW, **overrides})
        app.testing = True
        return app.test_client()

    return make


def _key(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        return bearer(session, make_store(session).account_id)


def test_a_key_beyond_its_burst_is_answered_429_with_retry_after(
    make_client: MakeClient, settings: Settings
) -> None:
    client, headers = make_client(), _key(settings)
    answers = [client.get(SUMMARY, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    refused = answers[-1]
    assert refused.get_json() == {
        "code": "rate_limited",
        "message": f"too many requests with this API key; retry in {refused.headers['Retry-After']} s",
    }
    # A whole number of seconds, at least 1: here a token comes back every 100 s.
    assert 90 <= int(refused.headers["Retry-After"]) <= 100
    # Another key of the same account has its own bucket.
    assert client.get(SUMMARY, headers=_key(settings)).status_code == 200


def test_the_limit_survives_the_web_process_restarting(make_client: MakeClient, settings: Settings) -> None:
    headers = _key(settings)
    before = make_client()
    assert [before.get(SUMMARY, headers=headers).status_code for _ in range(4)] == [200, 200, 200, 429]
    after = make_client()  # a new app: a restarted process keeps nothing of the old one's memory
    assert after.get(SUMMARY, headers=headers).status_code == 429


def test_buckets_are_named_by_the_keys_id_never_the_key(make_client: MakeClient, settings: Settings) -> None:
    headers = _key(settings)
    make_client().get(SUMMARY, headers=headers)
    with session_scope(settings.database_url) as session:
        key_id = session.query(ApiKey.id).one()[0]
    names = [name.decode() for name in connection(settings).keys("storepulse:bucket:*")]
    assert names == [f"storepulse:bucket:api-key:{key_id}"]
    token = headers["Authorization"].split()[1]
    secret = token.split("_", 2)[2]
    assert not any(token in name or secret in name for name in names)


def test_an_unknown_key_is_refused_before_it_costs_a_token(
    make_client: MakeClient, settings: Settings
) -> None:
    client = make_client()
    for _ in range(5):
        assert client.get(SUMMARY, headers={"Authorization": "Bearer sp_nope_nope"}).status_code == 401
    assert connection(settings).keys("storepulse:bucket:*") == []


def test_the_limit_can_be_turned_off(make_client: MakeClient, settings: Settings) -> None:
    client, headers = make_client(api_rate_limit_per_second=0), _key(settings)
    answers = [client.get(SUMMARY, headers=headers) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert "RateLimit-Limit" not in answers[0].headers


def test_with_redis_down_requests_go_through_and_each_change_is_logged_once(
    make_client: MakeClient,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limiter, "REDIS_PAUSE_SECONDS", 0)  # try Redis again at once, not after a pause
    headers = _key(settings)
    workdir = tmp_path / "redis"
    workdir.mkdir()
    client = make_client(redis_url=f"unix://{workdir / 'redis.sock'}")  # no server there yet
    with caplog.at_level(logging.INFO, logger="integration.web.limiter"):
        answers = [client.get(SUMMARY, headers=headers) for _ in range(6)]  # twice the burst
        assert {a.status_code for a in answers} == {200}
        assert "RateLimit-Limit" not in answers[0].headers
        with redis_server(None, workdir):  # Redis is back, on the same address
            answers = [client.get(SUMMARY, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    messages = [r.getMessage() for r in caplog.records if r.name == "integration.web.limiter"]
    assert len(messages) == 2
    assert messages[0].startswith("API rate limits unavailable, requests go through unlimited")
    assert messages[1] == "API rate limits kept again"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_RATE_LIMIT_PER_SECOND", "-1"),
        ("API_RATE_LIMIT_PER_SECOND", "fast"),
        ("API_RATE_LIMIT_PER_SECOND", "nan"),
        ("API_RATE_LIMIT_BURST", "0"),
        ("API_RATE_LIMIT_BURST", "2.5"),
    ],
)
def test_a_malformed_limit_stops_the_process_naming_the_variable(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = {
        "STOREPULSE_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x" * 32,
        "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        variable: value,
    }
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_the_documented_defaults() -> None:
    env = {"SECRET_KEY": "x" * 32, "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    settings = Settings.from_env({**env, "DATABASE_URL": "postgresql://db.internal/storepulse"})
    assert (settings.api_rate_limit_per_second, settings.api_rate_limit_burst) == (10.0, 50)
    tuned = Settings.from_env(
        {**env, "DATABASE_URL": "postgresql://db.internal/x", "API_RATE_LIMIT_PER_SECOND": "2.5"}
    )
    assert tuned.api_rate_limit_per_second == 2.5
