"""CSV imports through the API: upload a file into a store, then follow its progress.

Either in one step (`POST /stores/<id>/imports` imports at once) or in two: `POST
/stores/<id>/imports/check` stores the file and answers what a dry read of its head found (layout,
encoding, delimiter, columns, sample rows); `POST /imports/<id>/start` then imports the stored file,
so it is uploaded once.
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from connectors.csv.check import Check, check_file
from connectors.csv.formats import KINDS
from connectors.csv.upload import PartsReader, save_parts
from integration.store.models import Import, ImportStatus, Store
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, owned_store, require_api_key
from jobs.imports import queue_import

blueprint = Blueprint("imports", __name__, url_prefix="/api/v1", description="CSV imports")
require_api_key(blueprint)


ENCODINGS = ["utf-8", "cp1250", "cp1252"]


class UploadSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    encoding = fields.String(validate=validate.OneOf(ENCODINGS))


class StartSchema(Schema):
    kind = fields.String(
        validate=validate.OneOf(KINDS), metadata={"description": "another kind than the one checked"}
    )
    encoding = fields.String(
        validate=validate.OneOf(ENCODINGS), metadata={"description": "instead of the one detected"}
    )


class RecheckSchema(StartSchema):
    pass


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
    status = fields.String(
        required=True,
        metadata={"description": "checked (waiting to be started), queued, running, finished or failed"},
    )
    layout = fields.String(allow_none=True, metadata={"description": "storepulse, shopify_customers, …"})
    encoding = fields.String(
        allow_none=True, metadata={"description": "as chosen; none: detected from the file"}
    )
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
    errors = fields.List(
        fields.Dict(),
        metadata={"description": "bad rows: row, column, reason; `cells`: the row's [column, value] pairs"},
    )
    failure = fields.String(allow_none=True, metadata={"description": "why the file could not be read"})
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class CheckSchema(Schema):
    kind = fields.String(required=True)
    layout = fields.String(
        allow_none=True, metadata={"description": "storepulse, shopify_customers or shopify_orders"}
    )
    encoding = fields.String(allow_none=True, metadata={"description": "utf-8, utf-8-sig, cp1250 or cp1252"})
    delimiter = fields.String(allow_none=True, metadata={"description": ", or ;"})
    header = fields.List(fields.String(), required=True)
    matched = fields.List(
        fields.String(), required=True, metadata={"description": "columns the import reads"}
    )
    unrecognized = fields.List(fields.String(), required=True, metadata={"description": "columns left aside"})
    missing = fields.List(
        fields.String(), required=True, metadata={"description": "columns the kind needs and the file lacks"}
    )
    rows = fields.Integer(required=True, metadata={"description": "rows after the header"})
    rows_exact = fields.Boolean(
        required=True, metadata={"description": "false when `rows` is estimated from the file's head"}
    )
    sample = fields.List(
        fields.List(fields.String()),
        required=True,
        metadata={"description": "first rows, each its row number in the file then its cells"},
    )
    suggested_kind = fields.String(
        allow_none=True,
        metadata={"description": "a kind whose columns the file has, when the chosen one's are missing"},
    )
    problem = fields.String(
        allow_none=True,
        metadata={
            "description": "why the file cannot be imported: empty, unreadable, encoding, duplicate_column, "
            "missing_columns or no_rows"
        },
    )
    detail = fields.String(allow_none=True)


class CheckedImportSchema(ImportSchema):
    check = fields.Nested(CheckSchema, required=True)


def _store_upload(store: Store, status: ImportStatus) -> Import:
    """Store the uploaded file (multipart `file`, `kind`, `encoding`) as an import of the store."""
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
        status=status,
    )
    db.session.add(job)
    db.session.flush()
    import_id = job.id
    db.commit()  # the import exists before its parts are stored, each in a unit of its own
    size = save_parts(settings.database_url, import_id, upload.stream)
    stored = db.session.get(Import, import_id)
    assert stored is not None  # noqa: S101 - created above
    stored.bytes_total = size
    db.commit()  # stored before the import job may read it
    return stored


def check_import(job: Import, kind: str | None = None, encoding: str | None = None) -> Check:
    """A dry read of the head of an import's stored file, as `kind` and in `encoding` when given."""
    # The parts are read in units of their own: end the request's unit first (SQLite has one writer,
    # and the request may have written, say a key's last use).
    db.commit()
    reader = PartsReader(current_settings().database_url, job.id)
    return check_file(kind or job.kind, reader, job.bytes_total, encoding or job.encoding)


def owned_import(import_id: int) -> Import:
    """Return the key's account's import, or answer 404."""
    job = db.session.get(Import, import_id)
    store = db.session.get(Store, job.store_id) if job else None
    if job is None or store is None or store.account_id != g.account_id:
        fail(404, f"no import {import_id}", "not_found")
    return job


@blueprint.route("/stores/<int:store_id>/imports")
class Upload(MethodView):
    @blueprint.doc(security=BEARER, requestBody=UPLOAD_BODY)
    @blueprint.response(202, ImportSchema)
    def post(self, store_id: int) -> Import:
        """Upload a CSV file (multipart) to import into the store; a job imports it."""
        job = _store_upload(owned_store(store_id), ImportStatus.QUEUED)
        queue_import(current_settings(), job.id)
        return job


@blueprint.route("/stores/<int:store_id>/imports/check")
class UploadToCheck(MethodView):
    @blueprint.doc(security=BEARER, requestBody=UPLOAD_BODY)
    @blueprint.response(201, CheckedImportSchema)
    def post(self, store_id: int) -> dict[str, Any]:
        """Upload a CSV file (multipart) and check it, importing nothing; `/imports/<id>/start` imports it."""
        job = _store_upload(owned_store(store_id), ImportStatus.CHECKED)
        return {name: getattr(job, name) for name in ImportSchema().fields} | {"check": check_import(job)}


@blueprint.route("/imports/<int:import_id>/check")
class Recheck(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(RecheckSchema, location="query", as_kwargs=True)
    @blueprint.response(200, CheckSchema)
    def get(self, import_id: int, kind: str | None = None, encoding: str | None = None) -> Check:
        """Check a checked import's file again, as another kind or in another encoding."""
        job = owned_import(import_id)
        if job.status is not ImportStatus.CHECKED:
            fail(
                409, f"import {import_id} is {job.status.value}, its file is no longer checked", "not_checked"
            )
        return check_import(job, kind, encoding)


@blueprint.route("/imports/<int:import_id>/start")
class Start(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(StartSchema, required=False)
    @blueprint.response(202, ImportSchema)
    def post(self, choice: dict[str, Any], import_id: int) -> Import:
        """Import a checked file, as checked or as another kind or encoding; a job imports it."""
        job = owned_import(import_id)
        if job.status is not ImportStatus.CHECKED:
            fail(409, f"import {import_id} is {job.status.value}, not waiting to start", "not_checked")
        job.kind = choice.get("kind", job.kind)
        job.encoding = choice.get("encoding", job.encoding)
        job.status = ImportStatus.QUEUED
        db.commit()  # queued before the import job may read it
        queue_import(current_settings(), job.id)
        return job


@blueprint.route("/imports/<int:import_id>")
class Progress(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200, ImportSchema)
    def get(self, import_id: int) -> Import:
        """An import's progress and its report of bad rows."""
        return owned_import(import_id)
