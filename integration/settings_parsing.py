"""Settings' readers: each environment value checked and coerced to its type, or a ConfigError naming it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from integration.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
# The orders backfill reads Order.checkoutToken and Order.cartToken, which Shopify added in 2026-07.
OLDEST_SHOPIFY_API_VERSION = "2026-07"


def value(name: str, get: Callable[[str], str | None], convert: Callable[[str], Any], default: Any) -> Any:
    raw = get(name)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from exc


def boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def ca_bundle(get: Callable[[str], str | None]) -> str | None:
    # requests reads REQUESTS_CA_BUNDLE first, then CURL_CA_BUNDLE.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        raw = get(name)
        if raw is not None:
            if not Path(raw).exists():
                raise ConfigError(name, f"{raw} does not exist")
            return raw
    return None


def metrics(get: Callable[[str], str | None]) -> dict[str, Any]:
    enabled = value("STOREPULSE_METRICS", get, boolean, False)
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


def tag_prefix(raw: str) -> str:
    if "," in raw or len(raw) > 40:
        raise ValueError("a tag prefix has at most 40 characters and no comma")
    return raw


def database_url(raw: str, name: str = "DATABASE_URL") -> str:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(name, "not a database URL") from exc
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        # Hosting platforms hand out postgres:// URLs; psycopg 3 is the driver we ship.
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(name, f"unsupported database {backend!r} (use postgresql or sqlite)")
    return url.render_as_string(hide_password=False)


def replica_url(raw: str, primary: str) -> str:
    """A read replica's URL: PostgreSQL, beside a PostgreSQL primary."""
    url = database_url(raw, "DATABASE_REPLICA_URL")
    if url.startswith("sqlite") or primary.startswith("sqlite"):
        raise ConfigError("DATABASE_REPLICA_URL", "a read replica needs PostgreSQL for it and DATABASE_URL")
    return url


def check_redis_url(raw: str) -> None:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError("REDIS_URL", "must look like redis://host:6379/0, rediss://… or unix:///path")


def fernet_keys(raw: str) -> tuple[str, ...]:
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


def api_version(raw: str) -> str:
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


def retention_days(raw: str) -> int:
    days = int(raw)
    if not 1 <= days <= 3650:
        raise ValueError("must be a number of days from 1 to 3650")
    return days


def scopes(raw: str) -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not scopes or not all(s.replace("_", "").isalpha() for s in scopes):
        raise ValueError("must be comma-separated access scopes, e.g. read_orders,read_customers")
    return scopes


def http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://storepulse.example.com")
    return raw.rstrip("/")


def port(raw: str) -> int:
    port = int(raw) if raw.isdigit() else -1
    if not 0 < port < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return port


def retries(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if not 0 <= value <= 20:
        raise ValueError("must be a whole number from 0 to 20")
    return value


def proxies(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if not 0 <= value <= 10:
        raise ValueError("must be the number of reverse proxies in front of storepulse, from 0 to 10")
    return value


def grace_seconds(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if not 0 <= value <= 3600:
        raise ValueError("must be a whole number of seconds from 0 to 3600")
    return value


def megabytes(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        raise ValueError("must be a whole number of megabytes, at least 1")
    return value


def time_zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/Prague") from exc
    return raw


def log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def log_format(raw: str) -> str:
    value = raw.lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def rate(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100_000:
        raise ValueError("must be a number of requests a second from 0 (no limit) to 100000")
    return value


def failures(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= 10_000:
        raise ValueError("must be a whole number of failed sign-ins from 1 to 10000")
    return value


def window_seconds(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= 86_400:
        raise ValueError("must be a whole number of seconds from 1 to 86400")
    return value


def burst(raw: str) -> int:
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= 1_000_000:
        raise ValueError("must be a whole number of requests from 1 to 1000000")
    return value
