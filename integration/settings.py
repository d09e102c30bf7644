"""Settings: the only place that reads the environment.

Every value is read once, coerced to its type and checked; a missing or malformed value raises
`ConfigError` naming the variable, which the command line prints as one line before exiting.

Embedded mode: with no `DATABASE_URL`, storepulse keeps an SQLite file in its instance folder and,
with no `REDIS_URL`, runs an embedded Redis server there too. In that mode the secret and
encryption keys are generated once and kept in the instance folder, so a first try needs no setup.
With `DATABASE_URL` set (production), `SECRET_KEY` and `STOREPULSE_ENCRYPTION_KEY` are required.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from integration import settings_parsing as parsing
from integration.errors import ConfigError
from integration.settings_parsing import OLDEST_SHOPIFY_API_VERSION as OLDEST_SHOPIFY_API_VERSION

DEFAULT_PORT = 8000
SECRETS_FILE = "secrets.json"
# Customers (read, and write for tags), orders, checkouts for abandoned carts, and the web pixel
# (switched on with the shop's settings; Shopify asks `read_customer_events` of every pixel's app).
DEFAULT_SHOPIFY_SCOPES = (
    "read_customers",
    "write_customers",
    "read_orders",
    "read_checkouts",
    "write_pixels",
    "read_customer_events",
)


def default_instance_path() -> Path:
    """Return the instance folder of this environment (the same for every process using it)."""
    return Path(sys.prefix) / "var" / "storepulse-instance"


@dataclass(frozen=True)
class Settings:
    """Typed settings of one storepulse process; build with `Settings.from_env()`."""

    instance_path: Path
    # URLs may carry passwords: kept out of repr() and so out of logs and tracebacks.
    database_url: str = field(repr=False)
    redis_url: str | None = field(repr=False)
    secret_key: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    shopify_api_key: str | None = None
    # The operator's Billbee developer key (from Billbee's support): without it no Billbee account
    # can connect. The API's address is a setting so a stand-in can answer (benchmarks).
    billbee_api_key: str | None = None
    billbee_api_url: str = "https://api.billbee.io/api/v1"
    shopify_api_secret: str | None = field(default=None, repr=False)
    shopify_api_secret_previous: str | None = field(default=None, repr=False)
    shopify_api_version: str = "2026-07"
    shopify_scopes: tuple[str, ...] = DEFAULT_SHOPIFY_SCOPES
    app_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    port: int = DEFAULT_PORT
    default_time_zone: str = "UTC"
    log_level: str = "INFO"
    log_format: str = "text"
    # Each API key's token bucket: refilled at this many requests a second, holding at most `burst`.
    api_rate_limit_per_second: float = 10.0
    api_rate_limit_burst: int = 50
    # Failed sign-ins to the standalone admin allowed per window, from one address and for one
    # account (or unknown email); beyond them sign-in answers 429 until the window refills.
    signin_failures_per_address: int = 10
    signin_failures_per_account: int = 20
    signin_failure_window_seconds: float = 900.0
    # The storefront collector's token buckets, in requests (each of up to MAX_EVENTS events): per
    # store public key, and per client address.
    collect_rate_per_key: float = 50.0
    collect_burst_per_key: int = 500
    collect_rate_per_address: float = 2.0
    collect_burst_per_address: int = 30
    # How many reverse proxies in front of the web process set X-Forwarded-For and -Proto: the
    # client address the per-address limits see is the one the outermost trusted proxy saw.
    trusted_proxies: int = 0
    job_retries: int = 5
    # After SIGTERM, how long a worker's job under way may run before it is interrupted and given back.
    shutdown_grace_seconds: int = 20
    max_upload_mb: int = 2048
    inbox_retention_days: int = 30
    # storepulse writes only platform tags under this prefix, and ignores them when they come back.
    tag_prefix: str = "storepulse:"
    # Webhook destinations may use http and reach loopback, private and link-local addresses
    # (a self-hosted installation posting into its own network); off, only public https.
    webhook_allow_private: bool = False
    # CA certificates outgoing https trusts instead of the bundled ones (requests' own variables);
    # the webhook session, which reads nothing from the environment itself, takes them from here.
    ca_bundle: str | None = None
    # Prometheus metrics at /metrics: off unless enabled; with a token, only for `Bearer <token>`.
    metrics_enabled: bool = False
    metrics_token: str | None = field(default=None, repr=False)
    # The folder every process of the installation writes its metric files to (prometheus-client's
    # multiprocess mode, which reads the same variable itself when it is first imported).
    metrics_dir: str | None = None
    # Scripts of Shopify's admin the embedded pages load from Shopify's CDN. Not read from the
    # environment: only `create_app(config)` overrides them, as the browser tests do with local stand-ins.
    shopify_app_bridge_src: str = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
    shopify_polaris_src: str = "https://cdn.shopify.com/shopifycloud/polaris-1.js"
    # A PostgreSQL streaming replica that admin pages and the API's reads may use (`web.replica`).
    database_replica_url: str | None = field(default=None, repr=False)

    @property
    def shopify_secrets(self) -> tuple[str, ...]:
        """Secrets that may sign a Shopify delivery: the current one, and the previous in a rotation."""
        return tuple(s for s in (self.shopify_api_secret, self.shopify_api_secret_previous) if s)

    @property
    def embedded_database(self) -> bool:
        """Whether the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def embedded_redis(self) -> bool:
        """Whether Redis is the embedded server in the instance folder."""
        return self.redis_url is None

    @property
    def embedded_redis_db(self) -> Path:
        """Return the file the embedded Redis server persists its data to."""
        return self.instance_path / "redis.rdb"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        instance_path = Path(get("STOREPULSE_INSTANCE_PATH") or default_instance_path()).absolute()
        raw_db = get("DATABASE_URL")
        database_url = (
            parsing.database_url(raw_db) if raw_db else f"sqlite:///{instance_path / 'storepulse.sqlite3'}"
        )
        raw_replica = get("DATABASE_REPLICA_URL")
        replica_url = parsing.replica_url(raw_replica, database_url) if raw_replica else None
        redis_url = get("REDIS_URL")
        if redis_url is not None:
            parsing.check_redis_url(redis_url)

        secret_key = get("SECRET_KEY")
        encryption = get("STOREPULSE_ENCRYPTION_KEY")
        if raw_db is None and (secret_key is None or encryption is None):
            generated = _embedded_secrets(instance_path)
            secret_key = secret_key or generated["SECRET_KEY"]
            encryption = encryption or generated["STOREPULSE_ENCRYPTION_KEY"]
        if secret_key is None:
            raise ConfigError("SECRET_KEY", "required when DATABASE_URL is set")
        if len(secret_key) < 16:
            raise ConfigError("SECRET_KEY", "must be at least 16 characters")
        if encryption is None:
            raise ConfigError("STOREPULSE_ENCRYPTION_KEY", "required when DATABASE_URL is set")

        return cls(
            instance_path=instance_path,
            database_url=database_url,
            database_replica_url=replica_url,
            redis_url=redis_url,
            secret_key=secret_key,
            encryption_keys=parsing.fernet_keys(encryption),
            shopify_api_key=get("SHOPIFY_API_KEY"),
            billbee_api_key=get("BILLBEE_API_KEY") or None,
            billbee_api_url=parsing.value(
                "BILLBEE_API_URL", get, parsing.http_url, "https://api.billbee.io/api/v1"
            ).rstrip("/"),
            shopify_api_secret=get("SHOPIFY_API_SECRET"),
            shopify_api_secret_previous=get("SHOPIFY_API_SECRET_PREVIOUS"),
            shopify_api_version=parsing.value("SHOPIFY_API_VERSION", get, parsing.api_version, "2026-07"),
            shopify_scopes=parsing.value("SHOPIFY_SCOPES", get, parsing.scopes, DEFAULT_SHOPIFY_SCOPES),
            app_url=parsing.value("APP_URL", get, parsing.http_url, f"http://127.0.0.1:{DEFAULT_PORT}"),
            port=parsing.value("PORT", get, parsing.port, DEFAULT_PORT),
            default_time_zone=parsing.value("STOREPULSE_TIME_ZONE", get, parsing.time_zone, "UTC"),
            log_level=parsing.value("STOREPULSE_LOG_LEVEL", get, parsing.log_level, "INFO"),
            log_format=parsing.value("LOG_FORMAT", get, parsing.log_format, "text"),
            api_rate_limit_per_second=parsing.value("API_RATE_LIMIT_PER_SECOND", get, parsing.rate, 10.0),
            api_rate_limit_burst=parsing.value("API_RATE_LIMIT_BURST", get, parsing.burst, 50),
            signin_failures_per_address=parsing.value(
                "STOREPULSE_SIGNIN_FAILURES_PER_ADDRESS", get, parsing.failures, 10
            ),
            signin_failures_per_account=parsing.value(
                "STOREPULSE_SIGNIN_FAILURES_PER_ACCOUNT", get, parsing.failures, 20
            ),
            signin_failure_window_seconds=parsing.value(
                "STOREPULSE_SIGNIN_FAILURE_WINDOW_SECONDS", get, parsing.window_seconds, 900
            ),
            collect_rate_per_key=parsing.value("STOREPULSE_COLLECT_RATE_PER_KEY", get, parsing.rate, 50.0),
            collect_burst_per_key=parsing.value("STOREPULSE_COLLECT_BURST_PER_KEY", get, parsing.burst, 500),
            collect_rate_per_address=parsing.value(
                "STOREPULSE_COLLECT_RATE_PER_ADDRESS", get, parsing.rate, 2.0
            ),
            collect_burst_per_address=parsing.value(
                "STOREPULSE_COLLECT_BURST_PER_ADDRESS", get, parsing.burst, 30
            ),
            trusted_proxies=parsing.value("STOREPULSE_TRUSTED_PROXIES", get, parsing.proxies, 0),
            job_retries=parsing.value("STOREPULSE_JOB_RETRIES", get, parsing.retries, 5),
            shutdown_grace_seconds=parsing.value(
                "STOREPULSE_SHUTDOWN_GRACE_SECONDS", get, parsing.grace_seconds, 20
            ),
            max_upload_mb=parsing.value("STOREPULSE_MAX_UPLOAD_MB", get, parsing.megabytes, 2048),
            inbox_retention_days=parsing.value(
                "STOREPULSE_INBOX_RETENTION_DAYS", get, parsing.retention_days, 30
            ),
            tag_prefix=parsing.value("STOREPULSE_TAG_PREFIX", get, parsing.tag_prefix, "storepulse:"),
            webhook_allow_private=parsing.value(
                "STOREPULSE_WEBHOOK_ALLOW_PRIVATE", get, parsing.boolean, False
            ),
            ca_bundle=parsing.ca_bundle(get),
            **parsing.metrics(get),
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Return a copy with the given fields replaced (used by `create_app(config)` and tests)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(", ".join(sorted(unknown)), "not a setting")
        return replace(self, **dict(overrides))

    def ensure_instance_path(self) -> Path:
        """Create the instance folder (owner-only) if it does not exist yet."""
        self.instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.instance_path


def log_format_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Read `LOG_FORMAT` alone (gunicorn's loggers are set up before the app reads the rest)."""
    env = os.environ if environ is None else environ
    raw = (env.get("LOG_FORMAT") or "").strip()
    return parsing.value("LOG_FORMAT", lambda _: raw or None, parsing.log_format, "text")  # type: ignore[no-any-return]


def _embedded_secrets(instance_path: Path) -> dict[str, str]:
    """Load or create the keys of an embedded installation, kept owner-only in the instance folder."""
    path = instance_path / SECRETS_FILE
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "STOREPULSE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created them first: use theirs
        existing: dict[str, str] = json.loads(path.read_text())
        return existing
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    logging.getLogger(__name__).info("generated embedded-mode keys in %s", path)
    return data


_current: Settings | None = None


def get_settings() -> Settings:
    """Return this process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def configure(settings: Settings | None) -> None:
    """Make `settings` this process's settings (the app factory and tests call this)."""
    global _current
    _current = settings
