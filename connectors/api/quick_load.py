"""Loading a record of storepulse's own API shapes (CSV rows, mostly) without the schema's machinery.

`quick_load(schema, record)` returns what `schema.load(record)` returns for a record in its plain
shape — each field's type checked and converted as its marshmallow field does, the field's own
validators run, the schema's validators and record builder called — at a fraction of the cost:
marshmallow's per-field machinery was most of a CSV import's reading (about 50 µs of a customer's
row). Anything it cannot vouch for (a value of another type, a field type it does not know, an
invalid value) gives None, and the caller loads the record with the schema, which words the error.
Each schema read this way has a property test holding the two to the same record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing

from connectors import quick
from connectors.times import UTCTime

_DIGITS = re.compile(r"[0-9]{1,18}")
Reader = Callable[[Any], Any]


def quick_load(schema: Schema, record: Any) -> Any:
    """The record `schema.load(record)` gives, or None when only the schema can decide."""
    plan = _plan(schema)
    if plan is None or type(record) is not dict or not plan.keys.issuperset(record):
        return None
    try:
        return plan.load(record)
    except (quick.Declined, ValidationError, LookupError, *quick.GIVE_UP):
        return None


class _Plan:
    """How to read each field of one schema: its key, attribute, reader, and what a missing or null
    value means."""

    def __init__(self, schema: Schema, readers: list[tuple[str, str, Reader, fields.Field[Any]]]) -> None:
        self.schema = schema
        self.readers = readers
        self.keys = frozenset(key for key, *_ in readers)
        self.validators = _hooks(schema, "validates_schema")
        self.builders = _hooks(schema, "post_load")

    def load(self, record: dict[str, Any]) -> Any:
        data: dict[str, Any] = {}
        for key, attribute, read, field in self.readers:
            if key not in record:
                if field.required:
                    raise quick.Declined
                default = field.load_default
                if default is not missing:
                    data[attribute] = default() if callable(default) else default
                continue
            value = record[key]
            if value is None:
                if not field.allow_none:
                    raise quick.Declined
                data[attribute] = None
                continue
            data[attribute] = read(value)
        for validator in self.validators:
            validator(data)  # its ValidationError declines
        built: Any = data
        for builder in self.builders:
            built = builder(built)
        return built


_PLANS: dict[Schema, _Plan | None] = {}


def _plan(schema: Schema) -> _Plan | None:
    if schema not in _PLANS:
        _PLANS[schema] = _make_plan(schema)
    return _PLANS[schema]


def _make_plan(schema: Schema) -> _Plan | None:
    """A plan for the schemas this module knows how to read; None for any other."""
    hooks = schema._hooks
    if hooks["pre_load"] or hooks["validates"]:
        return None
    for tag in ("validates_schema", "post_load"):
        if any(many or options.get("pass_original") for _, many, options in hooks[tag]):
            return None
    readers = []
    for attribute, field in schema.load_fields.items():
        read = _reader(field)
        if read is None or field.pre_load or field.post_load:
            return None
        readers.append((field.data_key or attribute, attribute, read, field))
    return _Plan(schema, readers)


def _hooks(schema: Schema, tag: str) -> list[Callable[[dict[str, Any]], Any]]:
    """The schema's own `tag` methods (validators, builders), bound, in its order."""
    methods = [getattr(schema, name) for name, _, _ in schema._hooks[tag]]
    return [partial(method, many=False, partial=None, unknown=None) for method in methods]


def _checked(field: fields.Field[Any], value: Any) -> Any:
    for validator in field.validators:
        validator(value)  # a ValidationError declines
    return value


def _reader(field: fields.Field[Any]) -> Reader | None:
    """How to read a present, non-null value of `field`; None for a field type not handled here."""
    if type(field) is UTCTime:
        return lambda value: quick.instant(value, _latest(field), required=True)
    if type(field) in (fields.String, fields.Email, fields.Url):
        return lambda value: _checked(field, quick.text(value, required=True))
    if type(field) is fields.Decimal and field.places is None and not field.as_string:
        return lambda value: quick.amount(value, lambda number: _checked(field, number), required=True)
    if type(field) is fields.Integer and not field.strict and not field.as_string:
        return lambda value: _checked(field, _whole(value))
    if type(field) is fields.Boolean:
        return lambda value: value if value is True or value is False else _decline()
    if type(field) is fields.Enum and field.by_value is True:
        members = {member.value: member for member in field.enum}
        return lambda value: members[value]  # KeyError or TypeError: the schema's error
    if type(field) is fields.List:
        inner = field.inner
        if isinstance(inner, fields.Nested):
            nested = inner.schema
            if inner.many or inner.allow_none or _plan(nested) is None:
                return None
            return lambda value: [_nested(nested, item) for item in quick.listed(value)]
        read_item = _reader(inner)
        if read_item is None:
            return None
        return lambda value: [
            read_item(item) if item is not None else _decline() for item in quick.listed(value)
        ]
    return None


def _latest(field: UTCTime) -> Any:
    return field.latest() if callable(field.latest) else field.latest


def _nested(schema: Schema, item: Any) -> Any:
    plan = _plan(schema)
    if plan is None or type(item) is not dict or not plan.keys.issuperset(item):
        raise quick.Declined
    return plan.load(item)


def _whole(value: Any) -> int:
    """An `Integer` field's conversion, for the values it converts plainly: ints and digit strings."""
    if type(value) is int:
        return value
    if type(value) is str and _DIGITS.fullmatch(value):
        return int(value)
    raise quick.Declined


def _decline() -> Any:
    raise quick.Declined
