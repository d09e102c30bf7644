"""Input the API's schemas share: ids the store's keys can hold, and text that must stay on one line.

An id is a non-negative number the store's 64-bit keys can hold: a larger one can name nothing;
refused at the edge, it never reaches a database that would fail on it (PostgreSQL's bigint,
SQLite's INTEGER).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter, Map

from integration.store.types import MAX_ID


class IdConverter(IntegerConverter):
    """`<int:...>` in a path: a number beyond the store's keys matches no route (404)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def id_field(**kwargs: Any) -> fields.Integer:
    """An id in a query or body: refused (422) beyond the store's keys."""
    return fields.Integer(validate=validate.Range(min=0, max=MAX_ID), **kwargs)


# For text that ends up in a header (a mail's subject, a sender's name): a line break would start a new one.
ONE_LINE = validate.Regexp(r"^[^\r\n]*$", error="must be one line")
