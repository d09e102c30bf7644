"""Saved segments: `/api/v1/segments`, with a preview before saving and each segment's history."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint as FlaskBlueprint
from flask import Response, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from integration.audiences import exports, segments
from integration.store.models import Segment, SegmentExport
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.inputs import FilterField, id_field
from jobs.compute import export_segment_job
from jobs.queues import COMPUTE, enqueue
from jobs.sync import request_account_syncs

blueprint = Blueprint("segments", __name__, url_prefix="/api/v1", description="Saved segments")
require_api_key(blueprint)


class SegmentSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    filter = FilterField(required=True)


class PreviewSchema(Schema):
    filter = FilterField(required=True)


class MembersQuery(Schema):
    after = id_field(load_default=0, metadata={"description": "the last contact id of the previous page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


def _failed(exc: Exception) -> NoReturn:
    if isinstance(exc, segments.SegmentError):
        fail(409 if exc.reason in ("name_taken", "predefined") else 422, str(exc), exc.reason)
    fail(404, str(exc), "not_found")


def _save(data: dict[str, Any], segment_id: int | None = None) -> Segment:
    """Save a new segment, or the one `segment_id` names, from a request's body."""
    try:
        return segments.save(
            db.session,
            g.account_id,
            name=data["name"],
            raw_filter=data["filter"],
            description=data.get("description"),
            segment_id=segment_id,
        )
    except (segments.SegmentError, LookupError) as exc:
        _failed(exc)


@blueprint.route("/segments")
class Segments(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """The account's segments, the predefined ones first, with their member counts."""
        segments.ensure_predefined(db.session, g.account_id)
        rows = db.session.scalars(
            select(Segment)
            .where(Segment.account_id == g.account_id)
            .order_by(Segment.predefined.desc(), Segment.id)
        )
        return {"segments": [segments.describe_segment(s) for s in rows]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SegmentSchema)
    @blueprint.response(201)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Save a segment; its members are computed at once and kept current."""
        return segments.describe_segment(_save(data))


@blueprint.route("/segments/preview")
class Preview(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(PreviewSchema)
    @blueprint.response(200)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """How many contacts a filter selects now, and the first of them, before saving it."""
        try:
            return segments.preview(db.session, g.account_id, data["filter"])
        except segments.SegmentError as exc:
            _failed(exc)


@blueprint.route("/segments/<int:segment_id>")
class SegmentDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, segment_id: int) -> dict[str, Any]:
        """A segment, its size history and its latest entries and exits (with why)."""
        try:
            segment = segments.get(db.session, g.account_id, segment_id)
        except LookupError as exc:
            _failed(exc)
        return {
            **segments.describe_segment(segment),
            "sizes": segments.sizes(db.session, segment_id),
            "changes": segments.history(db.session, segment_id),
        }

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SegmentSchema)
    @blueprint.response(200)
    def put(self, data: dict[str, Any], segment_id: int) -> dict[str, Any]:
        """Edit a segment; who entered and who left because of the edit is logged, and its syncs run."""
        settings = current_settings()
        answer = segments.describe_segment(_save(data, segment_id))
        db.commit()  # the syncs read the edited segment
        request_account_syncs(settings, g.account_id)
        return answer

    @blueprint.doc(security=BEARER)
    @blueprint.response(204)
    def delete(self, segment_id: int) -> None:
        """Delete a segment you saved."""
        try:
            segments.remove(db.session, g.account_id, segment_id)
        except (segments.SegmentError, LookupError) as exc:
            _failed(exc)


@blueprint.route("/segments/<int:segment_id>/members")
class Members(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(MembersQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any], segment_id: int) -> dict[str, Any]:
        """The segment's members as of its last refresh, by contact id, a page at a time."""
        try:
            segments.get(db.session, g.account_id, segment_id)
        except LookupError as exc:
            _failed(exc)
        return segments.members(db.session, segment_id, query["after"], query["limit"])


@blueprint.route("/segments/<int:segment_id>/exports")
class SegmentExports(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(202)
    def post(self, segment_id: int) -> dict[str, Any]:
        """Export the segment's members as CSV in the background; `GET /api/v1/exports` lists it."""
        settings = current_settings()
        try:
            # A signed-in user is told when it is ready; an API key's export is the account's.
            export = exports.request_export(db.session, g.account_id, segment_id, g.get("user_id"))
        except LookupError as exc:
            _failed(exc)
        answer = exports.describe(export, settings.secret_key)
        db.commit()  # the export job reads the requested export
        enqueue(settings, COMPUTE, export_segment_job, answer["id"])
        return answer


@blueprint.route("/exports")
class Exports(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """The account's exports, newest first; finished ones carry a download link valid for a day."""
        settings = current_settings()
        return {"exports": exports.list_exports(db.session, g.account_id, settings.secret_key)}


downloads = FlaskBlueprint("export_downloads", __name__)


@downloads.get("/exports/<token>")
def download(token: str) -> Response:
    """Download an export's CSV through its signed, expiring link."""
    settings = current_settings()
    try:
        export_id = exports.resolve_link(settings.secret_key, token)
    except exports.LinkInvalid as exc:
        return Response(str(exc), status=404, content_type="text/plain; charset=utf-8")
    export = db.session.get(SegmentExport, export_id)
    if export is None or export.status != "finished":
        return Response("no such export", status=404, content_type="text/plain; charset=utf-8")
    name = f"segment-{export.segment_id or 'deleted'}-export-{export.id}.csv"
    return Response(  # the view's session is released before the file streams
        stream_with_context(exports.parts(settings.database_url, export_id)),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )
