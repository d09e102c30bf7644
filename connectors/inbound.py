"""What sources share in reading a stored delivery: its JSON body, each item alone, skips by position."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from integration.contract import Outcome
from integration.errors import InvalidRecord
from integration.store.models import InboxDelivery, Store


def json_body(delivery: InboxDelivery) -> Any:
    """The delivery's body parsed as JSON; InvalidRecord (the delivery fails at once) if it is not JSON."""
    try:
        return json.loads(delivery.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRecord("delivery", {"_schema": [f"not JSON: {exc}"]}) from exc


def delivery_store(session: Session, delivery: InboxDelivery) -> Store:
    """The store a delivery names; InvalidRecord (the delivery fails at once) when it names none."""
    store = session.get(Store, delivery.store_id) if delivery.store_id is not None else None
    if store is None:
        raise InvalidRecord("delivery", {"store_id": ["the delivery names no existing store"]})
    return store


def text_problem(value: Any) -> str | None:
    """Why a JSON value's text cannot be stored (U+0000, or a lone surrogate), else None.

    PostgreSQL text cannot hold U+0000 and no real name or id contains it; JSON may escape half of
    a surrogate pair (`\\ud800`), which is no character and encodes to no UTF-8.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL (U+0000) character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (U+D800 to U+DFFF), which is no character"
        return None
    if isinstance(value, dict):
        parts: Any = (p for k, v in value.items() for p in (k, v))
    elif isinstance(value, list):
        parts = iter(value)
    else:
        return None
    return next((problem for part in parts if (problem := text_problem(part)) is not None), None)


def _unreadable_record(index: int, problem: str) -> dict[str, Any]:
    return {"index": index, "errors": {"_schema": [problem]}}


def load_each(
    items: Sequence[Any],
    schema: Schema,
    noun: str = "record",
    unreadable: Callable[[int, str], dict[str, Any]] = _unreadable_record,
) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """Load each item alone: (index, record) for those that load, and for each other one why not.

    Text that cannot be stored and schema errors are reported under `errors`; an item that breaks
    the schema otherwise is reported by `unreadable` ("unreadable <noun>"), never costing the others.
    """
    loaded: list[tuple[int, Any]] = []
    skipped: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        problem = text_problem(item)
        if problem is not None:
            skipped.append({"index": index, "errors": {"_schema": [problem]}})
            continue
        try:
            loaded.append((index, schema.load(item)))
        except ValidationError as exc:
            skipped.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - one unreadable item never costs the others
            skipped.append(unreadable(index, f"unreadable {noun} ({type(exc).__name__})"))
    return loaded, skipped


def place_skips(outcome: Outcome, positions: Sequence[int], skipped: list[dict[str, Any]]) -> None:
    """Report on `outcome` the items not loaded and those ingest skipped, each by its place in the delivery.

    Ingest counts the records it skips by their place among the loaded ones (`positions` maps them).
    """
    stored = [{**s, "index": positions[s["index"]]} if "index" in s else s for s in outcome.skipped]
    outcome.skipped = sorted([*skipped, *stored], key=lambda s: s.get("index", -1))
