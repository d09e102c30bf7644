"""The API source: a delivery holds a JSON array of records of one topic in our documented shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from connectors.api.schemas import SCHEMAS
from integration import ingest
from integration.contract import Outcome
from integration.errors import InvalidRecord
from integration.ingest.isolation import ingest_isolated
from integration.store.models import InboxDelivery, Store

MAX_RECORDS = 1000

Ingest = Callable[[Session, Store, Sequence[Any]], Outcome]

INGEST: dict[str, Ingest] = {
    "customers": ingest.ingest_customers,
    "orders": ingest.ingest_orders,
    "checkouts": ingest.ingest_checkouts,
    "events": lambda session, store, records: ingest.ingest_events(session, store, records, source="api"),
    "campaigns": ingest.ingest_campaigns,
    "campaign_sends": ingest.ingest_sends,
}


def load_records(topic: str, items: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Validate a batch; return the valid records and, for each invalid one, its index, fields and reasons.

    Each valid record comes back as a (index in the batch, record) pair.
    """
    schema = SCHEMAS.get(topic)
    if schema is None:
        raise InvalidRecord("delivery", {"topic": [f"unknown topic {topic!r}"]})
    if not isinstance(items, list):
        raise InvalidRecord("delivery", {"_schema": ["the body must be a JSON array of records"]})
    if len(items) > MAX_RECORDS:
        raise InvalidRecord("delivery", {"_schema": [f"at most {MAX_RECORDS} records per batch"]})
    records, errors = [], []
    for index, item in enumerate(items):
        problem = text_problem(item)
        if problem is not None:
            errors.append({"index": index, "errors": {"_schema": [problem]}})
            continue
        try:
            records.append((index, schema.load(item)))
        except ValidationError as exc:
            errors.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - one unreadable record never costs the others
            problem = f"unreadable record ({type(exc).__name__})"
            errors.append({"index": index, "errors": {"_schema": [problem]}})
    return records, errors


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


class ApiSource:
    """Normalizes deliveries of the REST API and the demo: valid records stored, invalid ones reported."""

    name = "api"

    def process(self, session: Session, delivery: InboxDelivery) -> Outcome:
        store = session.get(Store, delivery.store_id) if delivery.store_id is not None else None
        if store is None:
            raise InvalidRecord("delivery", {"store_id": ["the delivery names no existing store"]})
        try:
            items = json.loads(delivery.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRecord("delivery", {"_schema": [f"not JSON: {exc}"]}) from exc
        loaded, errors = load_records(delivery.topic, items)
        positions = [index for index, _ in loaded]
        ingest_topic = INGEST[delivery.topic]
        outcome = ingest_isolated(
            session, lambda part: ingest_topic(session, store, part), [r for _, r in loaded]
        )
        # Ingest reports records skipped by their place among the valid ones: give their batch index.
        ingest_skips = [{**s, "index": positions[s["index"]]} if "index" in s else s for s in outcome.skipped]
        outcome.skipped = sorted([*errors, *ingest_skips], key=lambda s: s.get("index", -1))
        outcome.account_id = store.account_id
        return outcome
