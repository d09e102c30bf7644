"""Settings: typed defaults, embedded-mode keys, and one clear line per bad value."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from integration.errors import ConfigError
from integration.settings import Settings
from tests.support.processes import storepulse

DB_PASSWORD = "db-password-9f4c1e"
PRODUCTION = {
    "DATABASE_URL": f"postgresql://shop:{DB_PASSWORD}@db.internal:5432/storepulse",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "SECRET_KEY": "x" * 32,
    "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def test_embedded_defaults_use_the_instance_folder_and_keep_their_keys(tmp_path: Path) -> None:
    env = {"STOREPULSE_INSTANCE_PATH": str(tmp_path)}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert first.database_url == f"sqlite:///{tmp_path / 'storepulse.sqlite3'}"
    assert first.embedded_redis
    assert first.embedded_database
    assert (first.secret_key, first.encryption_keys) == (second.secret_key, second.encryption_keys)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_production_settings_are_read_and_typed() -> None:
    settings = Settings.from_env({**PRODUCTION, "PORT": "9000", "APP_URL": "https://pulse.example.com/"})
    assert settings.database_url == f"postgresql+psycopg://shop:{DB_PASSWORD}@db.internal:5432/storepulse"
    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert (settings.port, settings.app_url) == (9000, "https://pulse.example.com")
    assert not settings.embedded_database
    assert settings.tag_prefix == "storepulse:"
    assert Settings.from_env({**PRODUCTION, "STOREPULSE_TAG_PREFIX": "pulse-"}).tag_prefix == "pulse-"
    # Secrets never show in a repr (the password is long enough not to occur in a path by chance).
    for secret in (DB_PASSWORD, PRODUCTION["SECRET_KEY"], PRODUCTION["STOREPULSE_ENCRYPTION_KEY"]):
        assert secret not in repr(settings)
    limits = (
        settings.signin_failures_per_address,
        settings.signin_failures_per_account,
        settings.signin_failure_window_seconds,
    )
    assert limits == (10, 20, 900)
    assert (
        Settings.from_env(
            {**PRODUCTION, "STOREPULSE_SIGNIN_FAILURES_PER_ADDRESS": "5"}
        ).signin_failures_per_address
        == 5
    )


def test_shopify_settings_list_scopes_and_the_secrets_a_delivery_may_be_signed_with() -> None:
    settings = Settings.from_env(
        {
            **PRODUCTION,
            "SHOPIFY_SCOPES": "read_orders, write_customers",
            "SHOPIFY_API_SECRET": "shpss_new_secret",
            "SHOPIFY_API_SECRET_PREVIOUS": "shpss_old_secret",
        }
    )
    assert settings.shopify_scopes == ("read_orders", "write_customers")
    assert settings.shopify_secrets == ("shpss_new_secret", "shpss_old_secret")
    assert "shpss_" not in repr(settings)
    assert Settings.from_env(PRODUCTION).shopify_secrets == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://db/storepulse"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "http://cache:6379"),
        ("SECRET_KEY", "short"),
        ("STOREPULSE_ENCRYPTION_KEY", "not-a-fernet-key"),
        ("PORT", "99999"),
        ("PORT", "eighty"),
        ("APP_URL", "ftp://pulse.example.com"),
        ("STOREPULSE_TIME_ZONE", "Mars/Olympus_Mons"),
        ("STOREPULSE_LOG_LEVEL", "LOUD"),
        ("SHOPIFY_API_VERSION", "2026-7"),
        ("STOREPULSE_JOB_RETRIES", "-1"),
        ("STOREPULSE_SIGNIN_FAILURES_PER_ADDRESS", "0"),
        ("STOREPULSE_SIGNIN_FAILURES_PER_ACCOUNT", "many"),
        ("STOREPULSE_SIGNIN_FAILURE_WINDOW_SECONDS", "90000"),
        ("SHOPIFY_SCOPES", "read orders; write"),
        ("STOREPULSE_INBOX_RETENTION_DAYS", "0"),
        ("STOREPULSE_INBOX_RETENTION_DAYS", "month"),
        ("STOREPULSE_TAG_PREFIX", "a,b:"),
        ("STOREPULSE_WEBHOOK_ALLOW_PRIVATE", "sometimes"),
        ("REQUESTS_CA_BUNDLE", "/nowhere/ca.pem"),
        ("CURL_CA_BUNDLE", "/nowhere/ca.pem"),
        ("STOREPULSE_TRUSTED_PROXIES", "11"),
        ("STOREPULSE_TRUSTED_PROXIES", "one"),
        ("STOREPULSE_COLLECT_RATE_PER_KEY", "-5"),
        ("STOREPULSE_COLLECT_BURST_PER_ADDRESS", "0"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**PRODUCTION, variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        (None, False),
        ("false", False),
        ("0", False),
        ("no", False),
        ("true", True),
        ("TRUE", True),
        ("1", True),
    ],
)
def test_webhooks_reach_private_addresses_only_when_the_installation_says_so(
    value: str | None, allowed: bool
) -> None:
    env = PRODUCTION if value is None else {**PRODUCTION, "STOREPULSE_WEBHOOK_ALLOW_PRIVATE": value}
    assert Settings.from_env(env).webhook_allow_private is allowed


def test_the_collectors_limits_and_the_proxies_in_front_are_read() -> None:
    defaults = Settings.from_env(PRODUCTION)
    assert (defaults.trusted_proxies, defaults.collect_rate_per_address, defaults.collect_burst_per_key) == (
        0,
        2.0,
        500,
    )
    read = Settings.from_env(
        {
            **PRODUCTION,
            "STOREPULSE_TRUSTED_PROXIES": "2",
            "STOREPULSE_COLLECT_RATE_PER_KEY": "0",  # no limit per key
            "STOREPULSE_COLLECT_BURST_PER_ADDRESS": "100",
        }
    )
    assert (read.trusted_proxies, read.collect_rate_per_key, read.collect_burst_per_address) == (2, 0.0, 100)


def test_the_ca_bundle_is_requests_own_variable_then_curls(tmp_path: Path) -> None:
    ours, curls = tmp_path / "ours.pem", tmp_path / "curl.pem"
    ours.write_text("")
    curls.write_text("")
    assert Settings.from_env(PRODUCTION).ca_bundle is None
    assert Settings.from_env({**PRODUCTION, "CURL_CA_BUNDLE": str(curls)}).ca_bundle == str(curls)
    both = {**PRODUCTION, "REQUESTS_CA_BUNDLE": str(ours), "CURL_CA_BUNDLE": str(curls)}
    assert Settings.from_env(both).ca_bundle == str(ours)


def test_the_admin_scripts_come_from_shopifys_cdn_unless_the_app_is_built_otherwise() -> None:
    settings = Settings.from_env(
        {
            **PRODUCTION,
            "SHOPIFY_APP_BRIDGE_SRC": "https://elsewhere.example/app-bridge.js",
            "SHOPIFY_POLARIS_SRC": "https://elsewhere.example/polaris.js",
        }
    )
    assert settings.shopify_app_bridge_src == "https://cdn.shopify.com/shopifycloud/app-bridge.js"
    assert settings.shopify_polaris_src == "https://cdn.shopify.com/shopifycloud/polaris-1.js"
    local = settings.with_overrides(
        {"shopify_app_bridge_src": "http://127.0.0.1:5000/stub.js", "shopify_polaris_src": "/empty.js"}
    )
    assert (local.shopify_app_bridge_src, local.shopify_polaris_src) == (
        "http://127.0.0.1:5000/stub.js",
        "/empty.js",
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "STOREPULSE_ENCRYPTION_KEY"])
def test_production_requires_its_keys(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^{missing}: required when DATABASE_URL is set$"):
        Settings.from_env(env)


def test_the_command_line_fails_at_start_with_one_line(tmp_path: Path) -> None:
    result = storepulse(
        "db", "upgrade", env={"PATH": "/usr/bin:/bin", "PORT": "0", "STOREPULSE_INSTANCE_PATH": str(tmp_path)}
    )
    assert result.returncode == 2
    assert result.stderr == "storepulse: configuration error: PORT: must be a port number from 1 to 65535\n"


def test_overrides_must_name_settings(tmp_path: Path) -> None:
    settings = Settings.from_env({"STOREPULSE_INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(ConfigError, match="not a setting"):
        settings.with_overrides({"databse_url": "sqlite://"})
