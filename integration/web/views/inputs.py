"""Input the API's schemas share: ids the store's keys can hold, text that must stay on one line, filters.

An id is a non-negative number the store's 64-bit keys can hold: a larger one can name nothing;
refused at the edge, it never reaches a database that would fail on it (PostgreSQL's bigint,
SQLite's INTEGER).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter, Map

from integration.audiences import filters
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


FILTER_REF = {"$ref": "#/components/schemas/Filter"}


def next_cursor_field() -> fields.String:
    """The `next_cursor` of a keyset page's answer."""
    return fields.String(
        required=True, allow_none=True, metadata={"description": "the next page's cursor; null on the last"}
    )


def page_limit_field(what: str, maximum: int, default: int) -> fields.Integer:
    """The `limit` of a keyset-paged list: how many `what` a page holds, 1 to `maximum`."""
    return fields.Integer(
        load_default=default,
        validate=validate.Range(1, maximum),
        metadata={"description": f"{what} per page, 1–{maximum}; default {default}"},
    )


def page_cursor_field() -> fields.String:
    """The `cursor` of a keyset-paged list: where the page starts."""
    return fields.String(metadata={"description": "next_cursor of the previous page"})


class FilterField(fields.Raw):
    """A condition of the filter language in a JSON body (documented as the `Filter` schema)."""


class FilterParameter(fields.String):
    """A condition of the filter language as JSON text in a query parameter."""


def register_filter_language(api: Any) -> None:
    """Describe the filter language in the OpenAPI document: every condition with its value's schema.

    `Filter` is recursive (`all`, `any`, `not` hold conditions), so clients and request generators
    can build valid filters from the document alone.
    """
    converter = api.ma_plugin.converter
    conditions: list[dict[str, Any]] = [
        _only(
            "all",
            {"type": "array", "items": FILTER_REF, "maxItems": filters.MAX_CONDITIONS},
            "every one holds",
        ),
        _only(
            "any",
            {"type": "array", "items": FILTER_REF, "maxItems": filters.MAX_CONDITIONS},
            "at least one holds",
        ),
        _only("not", FILTER_REF, "the condition does not hold"),
    ]
    for name, field in filters.LEAVES.items():
        value = converter.field2property(field)
        conditions.append(_only(name, value, value.pop("description", None)))
    api.spec.components.schema(
        "Filter",
        component={
            "description": (
                "A condition: an object with exactly one key. Groups nest at most "
                f"{filters.MAX_DEPTH} deep and hold at most {filters.MAX_CONDITIONS} conditions in all."
            ),
            "oneOf": conditions,
        },
    )
    # A product is named by exactly one of its id and its SKU.
    product = api.spec.components.schemas["BoughtProduct"]
    product["oneOf"] = [{"required": ["product_id"]}, {"required": ["sku"]}]

    def filter_property(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(FILTER_REF) if isinstance(field, FilterField) else {}

    def filter_parameter(self: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if not isinstance(field, FilterParameter):
            return {}
        ret.pop("schema", None)  # a parameter has a schema or a content, not both
        return {"content": {"application/json": {"schema": dict(FILTER_REF)}}}

    converter.add_attribute_function(filter_property)
    converter.add_parameter_attribute_function(filter_parameter)


def _only(key: str, value: dict[str, Any], description: str | None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": "object",
        "properties": {key: value},
        "required": [key],
        "additionalProperties": False,
    }
    if description:
        condition["description"] = description
    return condition
