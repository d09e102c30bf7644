"""CSV imports through the API: upload a file into a store, then follow its progress."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from connectors.csv.formats import KINDS
from connectors.csv.upload import save_parts
from integration.store.models import Import, Store
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, owned_store, require_api_key
from jobs.imports import import_file_job
from jobs.queues import INGEST, enqueue_or_sweep

blueprint = Blueprint("imports", __name__, url_prefix="/api/v1", description="CSV imports")
require_api_key(blueprint)


class UploadSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    encoding = fields.String(validate=validate.OneOf(["utf-8", "cp1250", "cp1252"]))


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["kind", "file"],
                "properties": {
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "encoding": {"type": "string", "enum": ["utf-8", "cp1250", "cp1252"]},
                    "file": {"type": "string", "format": "binary"},
                },
            }
        }
    },
}


UPLOAD = UploadSchema()


class ImportSchema(Schema):
    id = fields.Integer(required=True)
    store_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    filename = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued, running, finished or failed"})
    layout = fields.String(allow_none=True, metadata={"description": "storepulse, shopify_customers, …"})
    bytes_total = fields.Integer(required=True)
    bytes_read = fields.Integer(required=True)
    rows_read = fields.Integer(required=True)
    records_written = fields.Integer(required=True)
    records_unchanged = fields.Integer(
        required=True, metadata={"description": "records older than the version stored: nothing changed"}
    )
    records_duplicate = fields.Integer(
        required=True, metadata={"description": "records already stored as they are (a file imported again)"}
    )
    rows_failed = fields.Integer(required=True)
    errors = fields.List(fields.Dict(), metadata={"description": "bad rows: row, column, reason"})
    failure = fields.String(allow_none=True, metadata={"description": "why the file could not be read"})
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


@blueprint.route("/stores/<int:store_id>/imports")
class Upload(MethodView):
    @blueprint.doc(security=BEARER, requestBody=UPLOAD_BODY)
    @blueprint.response(202, ImportSchema)
    def post(self, store_id: int) -> Import:
        """Upload a CSV file (multipart) to import into the store; a job imports it."""
        store = owned_store(store_id)
        try:
            form: dict[str, Any] = UPLOAD.load(request.form.to_dict())
        except ValidationError as exc:
            fail(422, "invalid form", "invalid_form", exc.normalized_messages())  # type: ignore[no-untyped-call]
        upload = request.files.get("file")
        if upload is None:
            fail(422, "invalid form", "invalid_form", {"file": ["Missing data for required field."]})
        settings = current_settings()
        job = Import(
            store_id=store.id,
            kind=form["kind"],
            filename=(upload.filename or "upload.csv")[:255],
            encoding=form.get("encoding"),
        )
        db.session.add(job)
        db.session.flush()
        import_id = job.id
        db.commit()  # the import exists before its parts are stored, each in a unit of its own
        size = save_parts(settings.database_url, import_id, upload.stream)
        stored = db.session.get(Import, import_id)
        assert stored is not None  # noqa: S101 - created above
        stored.bytes_total = size
        job = stored
        db.commit()  # stored before the import job may read it
        enqueue_or_sweep(settings, INGEST, import_file_job, import_id)
        return job


@blueprint.route("/imports/<int:import_id>")
class Progress(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, ImportSchema)
    def get(self, import_id: int) -> Import:
        """An import's progress and its report of bad rows."""
        job = db.session.get(Import, import_id)
        store = db.session.get(Store, job.store_id) if job else None
        if job is None or store is None or store.account_id != g.account_id:
            fail(404, f"no import {import_id}", "not_found")
        return job
