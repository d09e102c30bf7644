"""Settings: the only place that reads the environment.

Every value is read once, coerced to its type and checked; a missing or malformed value raises
`ConfigError` naming the variable, which the command line prints as one line before exiting.

Embedded mode: with no `DATABASE_URL`, storepulse keeps an SQLite file in its instance folder and,
with no `REDIS_URL`, runs an embedded Redis server there too. In that mode the secret and
encryption keys are generated once and kept in the instance folder, so a first try needs no setup.
With `DATABASE_URL` set (production), `SECRET_KEY` and `STOREPULSE_ENCRYPTION_KEY` are required.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from integration.errors import ConfigError

DEFAULT_PORT = 8000
SECRETS_FILE = "secrets.json"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
# Customers (read, and write for tags), orders, and checkouts for abandoned carts.
DEFAULT_SHOPIFY_SCOPES = ("read_customers", "write_customers", "read_orders", "read_checkouts")
# The orders backfill reads Order.checkoutToken and Order.cartToken, which Shopify added in 2026-07.
OLDEST_SHOPIFY_API_VERSION = "2026-07"


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
            _database_url(raw_db) if raw_db else f"sqlite:///{instance_path / 'storepulse.sqlite3'}"
        )
        redis_url = get("REDIS_URL")
        if redis_url is not None:
            _check_redis_url(redis_url)

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
            redis_url=redis_url,
            secret_key=secret_key,
            encryption_keys=_fernet_keys(encryption),
            shopify_api_key=get("SHOPIFY_API_KEY"),
            shopify_api_secret=get("SHOPIFY_API_SECRET"),
            shopify_api_secret_previous=get("SHOPIFY_API_SECRET_PREVIOUS"),
            shopify_api_version=_parse("SHOPIFY_API_VERSION", get, _api_version, "2026-07"),
            shopify_scopes=_parse("SHOPIFY_SCOPES", get, _scopes, DEFAULT_SHOPIFY_SCOPES),
            app_url=_parse("APP_URL", get, _http_url, f"http://127.0.0.1:{DEFAULT_PORT}"),
            port=_parse("PORT", get, _port, DEFAULT_PORT),
            default_time_zone=_parse("STOREPULSE_TIME_ZONE", get, _time_zone, "UTC"),
            log_level=_parse("STOREPULSE_LOG_LEVEL", get, _log_level, "INFO"),
            log_format=_parse("LOG_FORMAT", get, _log_format, "text"),
            api_rate_limit_per_second=_parse("API_RATE_LIMIT_PER_SECOND", get, _rate, 10.0),
            api_rate_limit_burst=_parse("API_RATE_LIMIT_BURST", get, _burst, 50),
            job_retries=_parse("STOREPULSE_JOB_RETRIES", get, _retries, 5),
            shutdown_grace_seconds=_parse("STOREPULSE_SHUTDOWN_GRACE_SECONDS", get, _grace_seconds, 20),
            max_upload_mb=_parse("STOREPULSE_MAX_UPLOAD_MB", get, _megabytes, 2048),
            inbox_retention_days=_parse("STOREPULSE_INBOX_RETENTION_DAYS", get, _retention_days, 30),
            tag_prefix=_parse("STOREPULSE_TAG_PREFIX", get, _tag_prefix, "storepulse:"),
            webhook_allow_private=_parse("STOREPULSE_WEBHOOK_ALLOW_PRIVATE", get, _boolean, False),
            ca_bundle=_ca_bundle(get),
            **_metrics(get),
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


def _parse(name: str, get: Callable[[str], str | None], convert: Callable[[str], Any], default: Any) -> Any:
    raw = get(name)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from exc


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _ca_bundle(get: Callable[[str], str | None]) -> str | None:
    # requests reads REQUESTS_CA_BUNDLE first, then CURL_CA_BUNDLE.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        raw = get(name)
        if raw is not None:
            if not Path(raw).exists():
                raise ConfigError(name, f"{raw} does not exist")
            return raw
    return None


def _metrics(get: Callable[[str], str | None]) -> dict[str, Any]:
    enabled = _parse("STOREPULSE_METRICS", get, _boolean, False)
    token = get("STOREPULSE_METRICS_TOKEN")
    folder = get("PROMETHEUS_MULTIPROC_DIR")
    if token is not None and len(token) < 16:
        raise ConfigError("STOREPULSE_METRICS_TOKEN", "must be at least 16 characters")
    if enabled and folder is None:
        # Without a shared folder each web worker would answer with its own share of the counts.
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR", "required when STOREPULSE_METRICS is on")
    if folder is not None and not Path(folder).is_dir():
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR", f"{folder} is not a folder")
    return {"metrics_enabled": enabled, "metrics_token": token, "metrics_dir": folder}


def _tag_prefix(raw: str) -> str:
    if "," in raw or len(raw) > 40:
        raise ValueError("a tag prefix has at most 40 characters and no comma")
    return raw


def _database_url(raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError("DATABASE_URL", "not a database URL") from exc
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        # Hosting platforms hand out postgres:// URLs; psycopg 3 is the driver we ship.
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError("DATABASE_URL", f"unsupported database {backend!r} (use postgresql or sqlite)")
    return url.render_as_string(hide_password=False)


def _check_redis_url(raw: str) -> None:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError("REDIS_URL", "must look like redis://host:6379/0, rediss://… or unix:///path")


def _fernet_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except (ValueError, binascii.Error) as exc:
            raise ConfigError(
                "STOREPULSE_ENCRYPTION_KEY",
                "each comma-separated key must be 32 url-safe base64 bytes "
                "(make one with: storepulse keys generate-encryption-key)",
            ) from exc
    return keys


def _api_version(raw: str) -> str:
    if raw == "unstable":
        return raw
    if not (len(raw) == 7 and raw[4] == "-" and raw.replace("-", "").isdigit()):
        raise ValueError(f"must be YYYY-MM, e.g. {OLDEST_SHOPIFY_API_VERSION}")
    if raw < OLDEST_SHOPIFY_API_VERSION:  # YYYY-MM strings sort as the versions do
        raise ValueError(
            f"must be {OLDEST_SHOPIFY_API_VERSION} or newer (older versions lack the order fields "
            "storepulse reads: checkoutToken, cartToken)"
        )
    return raw


def _retention_days(raw: str) -> int:
    days = int(raw)
    if not 1 <= days <= 3650:
        raise ValueError("must be a number of days from 1 to 3650")
    return days


def _scopes(raw: str) -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not scopes or not all(s.replace("_", "").isalpha() for s in scopes):
        raise ValueError("must be comma-separated access scopes, e.g. read_orders,read_customers")
    return scopes


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://storepulse.example.com")
    return raw.rstrip("/")


def _port(raw: str) -> int:
    port = int(raw) if raw.isdigit() else -1
    if not 0 < port < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return port


def _retries(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if not 0 <= value <= 20:
        raise ValueError("must be a whole number from 0 to 20")
    return value


def _grace_seconds(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if not 0 <= value <= 3600:
        raise ValueError("must be a whole number of seconds from 0 to 3600")
    return value


def _megabytes(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        raise ValueError("must be a whole number of megabytes, at least 1")
    return value


def _time_zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/Prague") from exc
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _log_format(raw: str) -> str:
    value = raw.lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def log_format_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Read `LOG_FORMAT` alone (gunicorn's loggers are set up before the app reads the rest)."""
    env = os.environ if environ is None else environ
    raw = (env.get("LOG_FORMAT") or "").strip()
    return _parse("LOG_FORMAT", lambda _: raw or None, _log_format, "text")  # type: ignore[no-any-return]


def _rate(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100_000:
        raise ValueError("must be a number of requests a second from 0 (no limit) to 100000")
    return value


def _burst(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= 1_000_000:
        raise ValueError("must be a whole number of requests from 1 to 1000000")
    return value


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
