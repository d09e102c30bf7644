"""Ids in paths, queries and bodies: the non-negative numbers the store's 64-bit keys can hold.

A larger number can name nothing; refused at the edge, it never reaches a database that would
fail on it (PostgreSQL's bigint, SQLite's INTEGER).
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
