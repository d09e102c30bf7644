"""Reading a platform's order payload in its plain shape, without a schema's per-field machinery.

Marshmallow costs some 3 µs a field, and an order with two lines has about 50: a third of a drain
of order deliveries. Nearly every delivery comes in its platform's plain shape (ids as numbers,
text as strings, amounts as decimal strings, times in ISO 8601), so each platform has a quick
reader for exactly that shape, with its schema's own conversions and checks and the same record
builders. A quick reader raises `Declined` (or the schema's own `ValidationError`) for anything
else, and its caller then loads the payload with the schema, which words the error. Each quick
reader has a property test holding it to its schema's results.

These are the pieces the readers share: what marshmallow's `String`, `Decimal`, `List` of
`Nested` and `Dict` fields and our `UTCTime` accept, for JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.times import EARLIEST, LATEST, within

# What a quick reader may meet in a payload that only the schema can decide about: its caller
# catches these and hands the payload to the schema.
GIVE_UP = (ValueError, TypeError, ArithmeticError, AttributeError)


class Declined(Exception):
    """The payload is outside the plain shape: the schema decides."""


def text(value: Any, *, required: bool = False) -> str | None:
    """A `String` field: a string, or None where the field may be null."""
    if type(value) is str or (value is None and not required):
        return value
    raise Declined


def bounded(value: Any, most: int, *, least: int = 0, required: bool = False) -> str | None:
    """A `String` field validated by `Length(least, most)`."""
    checked = text(value, required=required)
    if checked is not None and not least <= len(checked) <= most:
        raise Declined
    return checked


def instant(value: Any, latest: datetime = LATEST, *, required: bool = False) -> datetime | None:
    """A `UTCTime` field bounded by `latest`: an ISO 8601 string with its zone, in UTC."""
    if value is None and not required:
        return None
    if type(value) is not str:
        raise Declined
    moment = datetime.fromisoformat(value)  # what the schema's ISO parsing is
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Declined
    return within(moment, EARLIEST, latest)  # TimeOutOfRange, a ValueError, when outside


def amount(value: Any, check: Callable[[Decimal], None], *, required: bool = False) -> Decimal | None:
    """A `Decimal(allow_nan=False)` field validated by `check`: numbers and numeric strings
    converted as marshmallow converts them, `Decimal(str(value))`."""
    if value is None and not required:
        return None
    kind = type(value)
    if kind is not str and kind is not int and kind is not float:
        raise Declined  # booleans and everything else: the schema's error
    number = Decimal(str(value))  # InvalidOperation (an ArithmeticError) when unreadable
    if not number.is_finite():
        raise Declined
    check(number)  # the schema's validator: its ValidationError declines too
    return number


def objects(value: Any) -> list[dict[str, Any]]:
    """A `List(Nested(…))` field's value: a list of objects (a null list is the schema's error)."""
    if type(value) is not list or any(type(item) is not dict for item in value):
        raise Declined
    return value


def listed(value: Any) -> list[Any]:
    """A `List` field's value (not null): a list."""
    if type(value) is not list:
        raise Declined
    return value


def mapping(value: Any) -> dict[str, Any] | None:
    """A `Dict` field (null allowed): an object, copied as marshmallow copies it."""
    if value is None:
        return None
    if type(value) is not dict:
        raise Declined
    return dict(value)
