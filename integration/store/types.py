"""Column types every model shares (UTC timestamps, money, JSON), and SQL functions both databases know."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator

MONEY_PRECISION = 18
MONEY_SCALE = 4  # four places hold every ISO 4217 minor unit (KWD, BHD use three)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL stores `timestamptz`. SQLite has no time zones, so values are stored as naive UTC
    text in one fixed format (which keeps range comparisons correct) and come back aware.
    A naive datetime is refused: its zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: storepulse stores timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact amount; its currency lives in a sibling column."""

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """Return a time as ISO 8601 text (as the API gives times), or None for no time."""
    return value.isoformat() if value is not None else None


def as_json(value: Any) -> Any:
    """Return `value` with datetimes and decimals turned into JSON-safe strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


MAX_ID = 2**63 - 1  # the largest key the store's 64-bit id columns hold


class lower_text(GenericFunction[str]):  # noqa: N801 - named like the SQL function it stands for
    """SQL `lower()` that knows every alphabet: SQLite's own lowers ASCII only, so there Python's stands in.

    PostgreSQL's follows the database's locale (every letter under a UTF-8 one, ASCII only under `C`).
    """

    type = String()
    inherit_cache = True


@compiles(lower_text, "sqlite")
def _lower_on_sqlite(element: lower_text, compiler: Any, **kwargs: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kwargs)})"


@compiles(lower_text)
def _lower(element: lower_text, compiler: Any, **kwargs: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kwargs)})"


SQLITE_LOWER = "storepulse_lower"  # registered on each SQLite connection (integration.store.db)


def python_lower(value: str | None) -> str | None:
    """SQLite's stand-in for `lower()`: Python's, which knows every alphabet."""
    return value.lower() if isinstance(value, str) else value
