"""Destinations and syncs: `/api/v1/destinations`, `/api/v1/syncs`, dry runs, runs and their logs."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from connectors.registry import DESTINATIONS, check_settings
from integration.audiences import destinations, sync
from integration.errors import AddressRefused
from integration.store.models import Destination, DestinationKind, Sync, SyncMode
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, ErrorSchema, fail, require_api_key, require_owner
from integration.web.views.inputs import id_field
from jobs.sync import request_sync

blueprint = Blueprint("syncs", __name__, url_prefix="/api/v1", description="Sync back to destinations")
require_api_key(blueprint)


class DestinationSchema(Schema):
    kind = fields.Enum(DestinationKind, by_value=True, required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    config = fields.Dict(
        load_default=dict,
        metadata={
            "description": "settings of the kind; a webhook's `url` must be https and resolve to public "
            "addresses only (unless the installation allows private ones), else 422 with code "
            "`url_not_https`, `url_not_public` or `url_unresolvable` (also when the name's lookup "
            "takes longer than 3 seconds)"
        },
    )
    credentials = fields.Dict(
        load_default=dict, metadata={"description": "API key or secret; stored encrypted, never shown"}
    )


class DestinationUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    config = fields.Dict(metadata={"description": "new settings, checked as when the destination is added"})
    credentials = fields.Dict()


class SyncSchema(Schema):
    segment_id = id_field(required=True)
    destination_id = id_field(required=True)
    mode = fields.Enum(SyncMode, by_value=True, required=True)
    tag = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "the tag's name after the prefix; default: from the segment"},
    )
    start = fields.Boolean(
        metadata={
            "description": "start at once: enabled, first run queued. Default false: the sync is made "
            "paused, to be previewed (POST /syncs/{id}/preview) and started (PATCH enabled: true)"
        },
    )
    enabled = fields.Boolean(metadata={"description": "the same as start"})

    @validates_schema
    def _one_answer(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "enabled" in data and data["start"] != data["enabled"]:
            raise ValidationError("start and enabled disagree; give one of them", "start")


class SyncUpdate(Schema):
    enabled = fields.Boolean(
        required=True,
        metadata={"description": "true starts or resumes the sync (a run is queued); false pauses it"},
    )


def _failed(exc: Exception) -> NoReturn:
    if isinstance(exc, sync.SyncError):
        fail(409 if exc.reason in ("exists", "tag_taken") else 422, str(exc), exc.reason)
    fail(404, str(exc), "not_found")


def _checked(kind: DestinationKind, part: str, data: dict[str, Any]) -> dict[str, Any]:
    declared = DESTINATIONS[kind]
    schema = declared.settings() if part == "config" else declared.credentials()
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        fail(422, f"invalid {part} for a {kind.value} destination", "invalid_" + part, {part: exc.messages})
    if part == "config":
        try:
            check_settings(kind, loaded, current_settings())
        except AddressRefused as exc:
            message = f"the URL {exc.url} is refused: {exc.detail}"
            fail(422, message, exc.reason, {"config": {"url": [message]}})
    return loaded


@blueprint.route("/destinations")
class Destinations(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """The account's destinations (credentials are never shown)."""
        rows = db.session.scalars(
            select(Destination).where(Destination.account_id == g.account_id).order_by(Destination.id)
        )
        return {"destinations": [destinations.describe_destination(d) for d in rows]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(DestinationSchema)
    @blueprint.response(201)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a destination: Shopify tags, a Mailchimp audience, a Klaviyo list or a signed webhook.

        A webhook URL is refused (422) unless it is https and its host resolves to public addresses
        only; an installation may allow http and private addresses (STOREPULSE_WEBHOOK_ALLOW_PRIVATE).
        Owners only.
        """
        require_owner()
        kind = data["kind"]
        config = _checked(kind, "config", data["config"])
        credentials = _checked(kind, "credentials", data["credentials"])
        settings = current_settings()
        try:
            made = destinations.create_destination(
                db.session,
                g.account_id,
                settings.encryption_keys,
                kind=kind,
                name=data["name"],
                config=config,
                credentials=credentials,
            )
        except sync.SyncError as exc:
            _failed(exc)
        return destinations.describe_destination(made)


@blueprint.route("/destinations/<int:destination_id>")
class DestinationDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, destination_id: int) -> dict[str, Any]:
        """One destination."""
        try:
            return destinations.describe_destination(
                destinations.get_destination(db.session, g.account_id, destination_id)
            )
        except LookupError as exc:
            _failed(exc)

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(DestinationUpdate)
    @blueprint.response(200)
    def patch(self, data: dict[str, Any], destination_id: int) -> dict[str, Any]:
        """Rename, change settings or replace credentials (owners); syncs a rejected key stopped run again."""
        require_owner()
        settings = current_settings()
        try:
            found = destinations.get_destination(db.session, g.account_id, destination_id)
            destinations.update_destination(
                db.session,
                found,
                settings.encryption_keys,
                name=data.get("name"),
                config=_checked(found.kind, "config", data["config"]) if "config" in data else None,
                credentials=(
                    _checked(found.kind, "credentials", data["credentials"])
                    if "credentials" in data
                    else None
                ),
            )
        except (LookupError, sync.SyncError) as exc:
            _failed(exc)
        answer = destinations.describe_destination(found)
        sync_ids = destinations.enabled_sync_ids(db.session, g.account_id)
        db.commit()  # the syncs read the changed destination
        for sync_id in sync_ids:
            request_sync(settings, sync_id)
        return answer

    @blueprint.doc(security=BEARER)
    @blueprint.response(204)
    def delete(self, destination_id: int) -> None:
        """Delete a destination and its syncs (what they delivered stays where it is); owners only."""
        require_owner()
        try:
            db.session.delete(destinations.get_destination(db.session, g.account_id, destination_id))
        except LookupError as exc:
            _failed(exc)


@blueprint.route("/syncs")
class Syncs(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self) -> dict[str, Any]:
        """The account's syncs with their state and last run."""
        rows = db.session.scalars(select(Sync).where(Sync.account_id == g.account_id).order_by(Sync.id))
        return {"syncs": [destinations.describe_sync(db.session, s) for s in rows]}

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SyncSchema)
    @blueprint.response(201)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Keep a segment in step with a destination; made paused unless `start` is true.

        A paused sync sends nothing: preview its first run, then start it with PATCH `{"enabled": true}`.
        Made with `start: true`, it is enabled and its first run is queued at once.
        """
        settings = current_settings()
        start = bool(data.get("start", data.get("enabled", False)))
        try:
            made = destinations.create_sync(
                db.session,
                g.account_id,
                segment_id=data["segment_id"],
                destination_id=data["destination_id"],
                mode=data["mode"],
                tag_prefix=settings.tag_prefix,
                tag=data.get("tag"),
                start=start,
            )
        except (LookupError, sync.SyncError) as exc:
            _failed(exc)
        answer = destinations.describe_sync(db.session, made)
        db.commit()  # the first run reads the new sync
        if start:
            request_sync(settings, answer["id"])
        return answer


@blueprint.route("/syncs/<int:sync_id>")
class SyncDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, sync_id: int) -> dict[str, Any]:
        """A sync, its last run and the contacts whose delivery is failing."""
        try:
            found = destinations.get_sync(db.session, g.account_id, sync_id)
        except LookupError as exc:
            _failed(exc)
        return {
            **destinations.describe_sync(db.session, found),
            "errors": destinations.failing(db.session, sync_id),
        }

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(SyncUpdate)
    @blueprint.response(200)
    def patch(self, data: dict[str, Any], sync_id: int) -> dict[str, Any]:
        """Start, pause or resume a sync; starting or resuming queues a run."""
        settings = current_settings()
        try:
            found = destinations.get_sync(db.session, g.account_id, sync_id)
        except LookupError as exc:
            _failed(exc)
        found.enabled = data["enabled"]
        db.session.flush()
        answer = destinations.describe_sync(db.session, found)
        db.commit()
        if answer["enabled"]:
            # Committed first: the job only runs an enabled sync.
            request_sync(settings, sync_id)
        return answer

    @blueprint.doc(security=BEARER)
    @blueprint.response(204)
    def delete(self, sync_id: int) -> None:
        """Delete a sync (what it delivered stays in the destination)."""
        try:
            db.session.delete(destinations.get_sync(db.session, g.account_id, sync_id))
        except LookupError as exc:
            _failed(exc)


@blueprint.route("/syncs/<int:sync_id>/preview")
class SyncPreview(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def post(self, sync_id: int) -> dict[str, Any]:
        """Dry run: the adds, updates and removes the next run would send, with a sample; sends nothing.

        On a sync that never ran (a new, paused one) that is its whole first run: every member an add.
        """
        try:
            found = destinations.get_sync(db.session, g.account_id, sync_id)
        except LookupError as exc:
            _failed(exc)
        return sync.preview(db.session, found)


@blueprint.route("/syncs/<int:sync_id>/runs")
class SyncRuns(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, sync_id: int) -> dict[str, Any]:
        """The sync's runs, newest first: counts, status and per-contact errors."""
        try:
            destinations.get_sync(db.session, g.account_id, sync_id)
        except LookupError as exc:
            _failed(exc)
        return {"runs": destinations.runs(db.session, sync_id)}

    @blueprint.doc(security=BEARER)
    @blueprint.response(202)
    @blueprint.alt_response(409, schema=ErrorSchema, description="the sync is paused (code sync_paused)")
    def post(self, sync_id: int) -> dict[str, Any]:
        """Run the sync now (queued); a paused sync is started first (PATCH `{"enabled": true}`)."""
        settings = current_settings()
        try:
            found = destinations.get_sync(db.session, g.account_id, sync_id)
        except LookupError as exc:
            _failed(exc)
        if not found.enabled:
            fail(409, 'the sync is paused: start it with PATCH {"enabled": true}', "sync_paused")
        db.commit()
        if not request_sync(settings, sync_id):
            fail(503, "the queue is unavailable; the scheduled run will send it", "queue_unavailable")
        return {"sync_id": sync_id, "queued": True}
