"""Batch upserts into a store: `POST /api/v1/stores/{store_id}/{customers|orders|checkouts|events}`.

A batch goes the way every delivery goes: stored in the inbox (keyed by the `Idempotency-Key`
header, or by the body's digest), then normalized; here at once, so the answer can say what was
stored and which records were refused, by index, field and reason. Sending the same batch again
answers the first outcome and changes nothing. If normalizing fails for a passing reason, the batch
stays in the inbox, the answer is 202, and the sweeper finishes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis
from apispec import APISpec
from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from connectors.api.schemas import SCHEMAS
from connectors.api.source import MAX_RECORDS
from connectors.registry import SOURCES
from integration.follow_ups import FollowUp
from integration.ingest import inbox
from integration.store.models import InboxDelivery, InboxStatus
from integration.web.context import current_settings, db
from integration.web.views.auth import API_MAX_BODY_BYTES, BEARER, fail, owned_store, require_api_key
from integration.web.views.bodies import read_body
from jobs.ingest import run_follow_ups

logger = logging.getLogger(__name__)
blueprint = Blueprint("records", __name__, url_prefix="/api/v1", description="Batch upserts into a store")
require_api_key(blueprint)

# The key is stored in the inbox's delivery id (255 characters) after the store id and topic.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
TOPICS = {
    "customers": "Customer",
    "orders": "Order",
    "checkouts": "Checkout",
    "events": "Event",
}


def register_schemas(spec: APISpec) -> None:
    """Name the record schemas in the OpenAPI document (the request bodies refer to them)."""
    for topic, name in TOPICS.items():
        spec.components.schema(name, schema=type(SCHEMAS[topic]))


class RecordErrorSchema(Schema):
    index = fields.Integer(required=True, metadata={"description": "position of the record in the batch"})
    errors = fields.Dict(
        keys=fields.String(), values=fields.Raw(), metadata={"description": "field → reasons (schema errors)"}
    )
    field = fields.String(metadata={"description": "the field that decided (refused while storing)"})
    reason = fields.String()


class BatchResultSchema(Schema):
    status = fields.String(
        required=True, metadata={"description": "processed, or pending (will finish soon)"}
    )
    written = fields.Integer(required=True, metadata={"description": "records stored or updated"})
    unchanged = fields.Integer(
        required=True, metadata={"description": "records older than the version stored: nothing changed"}
    )
    duplicate = fields.Integer(
        required=True,
        metadata={
            "description": "records already stored as they are (the same event id, or the same "
            "version of a record, again): a replay"
        },
    )
    errors = fields.List(fields.Nested(RecordErrorSchema), required=True)
    replayed = fields.Boolean(required=True, metadata={"description": "this batch was received before"})


def _request_body(topic: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "maxItems": MAX_RECORDS,
                    "items": {"$ref": f"#/components/schemas/{TOPICS[topic]}"},
                }
            }
        },
    }


def _batch(store_id: int, topic: str) -> tuple[dict[str, Any], int]:
    store = owned_store(store_id)
    body = read_body(API_MAX_BODY_BYTES)
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(400, f"the body is not JSON: {exc}", "invalid_json")
    if not isinstance(items, list):
        fail(400, "the body must be a JSON array of records", "invalid_body")
    if len(items) > MAX_RECORDS:
        fail(413, f"at most {MAX_RECORDS} records per call", "batch_too_large")
    key = request.headers.get("Idempotency-Key") or hashlib.sha256(body).hexdigest()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        # Never cut: two long keys sharing their start would be taken for one batch.
        fail(
            400,
            f"the Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            "idempotency_key_too_long",
        )
    settings = current_settings()
    follow_ups: list[FollowUp] = []
    received = inbox.receive(
        db.session,
        source="api",
        topic=topic,
        delivery_id=f"{store.id}:{topic}:{key}",
        body=body,
        store_id=store.id,
        headers={"account_id": str(g.account_id)},
    )
    if received.new:
        inbox.process(db.session, [received.id], SOURCES, follow_ups=follow_ups)
    delivery = db.session.get(InboxDelivery, received.id)
    assert delivery is not None  # noqa: S101 - stored just above
    result = delivery.result or {}
    status = delivery.status
    db.commit()  # the batch is stored before its follow-up work is queued
    try:
        run_follow_ups(settings, follow_ups)  # after commit: the statistics' refresh, for one
    except redis.RedisError as exc:
        logger.warning("follow-up work of a batch not queued: %s", exc)
    answer = {
        "status": status.value,
        "written": result.get("written", 0),
        "unchanged": result.get("unchanged", 0),
        "duplicate": result.get("duplicate", 0),
        "errors": result.get("skipped", []),
        "replayed": not received.new,
    }
    return answer, 202 if status == InboxStatus.PENDING else 200


def _endpoint(topic: str) -> type[MethodView]:
    class Batch(MethodView):
        reports_nul_per_record = True  # a record holding U+0000 is refused by its index, the rest stored

        @blueprint.doc(security=BEARER, requestBody=_request_body(topic))
        @blueprint.response(200, BatchResultSchema)
        @blueprint.alt_response(
            202, schema=BatchResultSchema, description="stored; will be processed shortly"
        )
        def post(self, store_id: int) -> tuple[dict[str, Any], int]:
            return _batch(store_id, topic)

    Batch.post.__doc__ = (
        f"Upsert up to {MAX_RECORDS} {topic} into a store of the key's account.\n\n"
        "Valid records are stored; invalid ones are listed by index, field and reason. "
        "The same batch again changes nothing; an older `updated_at` never overwrites a newer record."
    )
    Batch.__name__ = f"{TOPICS[topic]}Batch"
    return Batch


for _topic in TOPICS:
    blueprint.route(f"/stores/<int:store_id>/{_topic}", endpoint=f"{_topic}_batch")(_endpoint(_topic))
