"""Campaigns: create and list them, record sends and their statuses, and read their results."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from integration.campaigns import recipients
from integration.campaigns import results as campaign_results
from integration.campaigns import sends as campaigns
from integration.campaigns.sends import SendInput, UnknownCampaign
from integration.keyset import BadCursor
from integration.store.models import CampaignChannel, SendStatus
from integration.web.context import db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.inputs import id_field, next_cursor_field, page_cursor_field, page_limit_field

blueprint = Blueprint("campaigns", __name__, url_prefix="/api/v1", description="Campaigns")
require_api_key(blueprint)

MAX_SENDS = 1000
MAX_PREVIEW_BYTES = 20 * 1024 * 1024


class CampaignSchema(Schema):
    id = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "your id for the campaign; posting it again updates the campaign"},
    )
    channel = fields.Enum(CampaignChannel, by_value=True, required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    preview_html = fields.String(metadata={"description": "an email's HTML, exactly as sent"})
    preview_pdf_base64 = fields.String(metadata={"description": "a letter's PDF, base64-encoded"})

    @validates_schema
    def _preview(self, data: dict[str, Any], **_: Any) -> None:
        if data["channel"] == CampaignChannel.EMAIL and "preview_pdf_base64" in data:
            raise ValidationError("an email's preview is HTML (preview_html)", "preview_pdf_base64")
        if data["channel"] == CampaignChannel.LETTER and "preview_html" in data:
            raise ValidationError("a letter's preview is a PDF (preview_pdf_base64)", "preview_html")
        if "preview_pdf_base64" in data:
            try:
                pdf = base64.b64decode(data["preview_pdf_base64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationError("not valid base64", "preview_pdf_base64") from exc
            if not pdf.startswith(b"%PDF-"):
                raise ValidationError("not a PDF document", "preview_pdf_base64")
            if len(pdf) > MAX_PREVIEW_BYTES:
                raise ValidationError("larger than 20 MB", "preview_pdf_base64")


class SendSchema(Schema):
    contact_id = id_field(metadata={"description": "a contact of this account, or give email"})
    email = fields.Email()
    status = fields.Enum(SendStatus, by_value=True, required=True)
    queued_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime()
    returned_at = fields.AwareDateTime()
    failed_at = fields.AwareDateTime()

    @validates_schema
    def _who(self, data: dict[str, Any], **_: Any) -> None:
        if "contact_id" not in data and "email" not in data:
            raise ValidationError("a send names its contact by contact_id or email", "contact_id")


SEND = SendSchema()


class CampaignPageQuery(Schema):
    limit = page_limit_field("campaigns", campaign_results.MAX_LIMIT, 20)
    cursor = page_cursor_field()


class CampaignSendsQuery(Schema):
    limit = page_limit_field("sends", recipients.MAX_LIMIT, 50)
    after = id_field(
        load_default=0, metadata={"description": "next_after of the previous page: the last contact id read"}
    )


class CampaignOrdersQuery(Schema):
    limit = page_limit_field("orders", recipients.MAX_LIMIT, 50)
    cursor = page_cursor_field()


class AmountSchema(Schema):
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code"})
    amount = fields.String(required=True, metadata={"description": "decimal, two places"})


class SendCountsSchema(Schema):
    queued = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    returned = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class CampaignSummarySchema(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(
        required=True, metadata={"description": "the id events name the campaign by (`campaign_id`)"}
    )
    channel = fields.String(required=True, validate=validate.OneOf([c.value for c in CampaignChannel]))
    name = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    sends = fields.Integer(required=True, metadata={"description": "sends of every status"})
    by_status = fields.Nested(SendCountsSchema, required=True)
    opened = fields.Integer(required=True, metadata={"description": "sends opened (machine opens aside)"})
    clicked = fields.Integer(required=True, metadata={"description": "sends clicked"})
    scanned = fields.Integer(required=True, metadata={"description": "letters whose QR code was scanned"})
    ordered = fields.Integer(
        required=True, metadata={"description": "sends followed by an order within the attribution window"}
    )
    revenue = fields.List(
        fields.Nested(AmountSchema),
        required=True,
        metadata={"description": "revenue of those orders per currency (not cancelled, voided or refunded)"},
    )


class CampaignPageSchema(Schema):
    campaigns = fields.List(fields.Nested(CampaignSummarySchema), required=True)
    next_cursor = next_cursor_field()


@blueprint.route("/campaigns")
class Campaigns(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CampaignPageQuery, location="query")
    @blueprint.response(200, CampaignPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The account's campaigns, newest first, with their results; keyset pages with a cursor."""
        try:
            return campaign_results.list_campaigns(
                db.session, g.account_id, limit=query["limit"], cursor=query.get("cursor")
            )
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")

    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CampaignSchema)
    @blueprint.response(201)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a campaign (email or letter) with a preview of its content, or update one by its id."""
        preview, content_type = None, None
        if "preview_html" in data:
            preview, content_type = data["preview_html"].encode(), "text/html; charset=utf-8"
        elif "preview_pdf_base64" in data:
            preview, content_type = base64.b64decode(data["preview_pdf_base64"]), "application/pdf"
        campaign = campaigns.save_campaign(
            db.session,
            g.account_id,
            channel=data["channel"],
            name=data["name"],
            external_id=data.get("id"),
            preview=preview,
            content_type=content_type,
        )
        return campaigns.describe_campaign(db.session, campaign)


@blueprint.route("/campaigns/<int:campaign_id>")
class CampaignDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """A campaign and the link to its current preview."""
        try:
            return campaigns.describe_campaign(
                db.session, campaigns.get_campaign(db.session, g.account_id, campaign_id)
            )
        except UnknownCampaign:
            fail(404, f"no campaign {campaign_id}", "not_found")


@blueprint.route("/campaigns/<int:campaign_id>/previews/<int:preview_id>")
class CampaignPreview(MethodView):
    @blueprint.doc(security=BEARER)
    def get(self, campaign_id: int, preview_id: int) -> Response:
        """Exactly what was sent: the HTML of an email or the PDF of a letter."""
        try:
            preview = campaigns.preview_content(db.session, g.account_id, campaign_id, preview_id)
        except UnknownCampaign:
            fail(404, "no such preview", "not_found")
        response = Response(preview.content, content_type=preview.content_type)
        # Shown as a document, never run as part of this site.
        response.headers["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline' *"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@blueprint.route("/campaigns/<int:campaign_id>/sends")
class CampaignSends(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CampaignSendsQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """The campaign's sends by contact id, each with its status, times, opens, clicks and QR scans,
        its preview and the order it is credited with (null when none); `next_after` starts the next
        page (null on the last)."""
        try:
            return recipients.campaign_sends(
                db.session, g.account_id, campaign_id, limit=query["limit"], after=query["after"]
            )
        except UnknownCampaign:
            fail(404, f"no campaign {campaign_id}", "not_found")

    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def post(self, campaign_id: int) -> dict[str, Any]:
        """Record sends (up to 1,000) or update their status; valid ones are stored, invalid ones reported."""
        items = request.get_json(silent=True)
        if not isinstance(items, list):
            fail(422, "the body must be a JSON array of sends", "invalid_body")
        if len(items) > MAX_SENDS:
            fail(422, f"at most {MAX_SENDS} sends per call", "too_many")
        valid: list[tuple[int, SendInput]] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                loaded = SEND.load(item)
            except ValidationError as exc:
                errors.append({"index": index, "errors": exc.normalized_messages()})  # type: ignore[no-untyped-call]
                continue
            valid.append((index, SendInput(**loaded)))
        try:
            written, refused = campaigns.record_sends(
                db.session, g.account_id, campaign_id, [s for _, s in valid]
            )
        except UnknownCampaign:
            fail(404, f"no campaign {campaign_id}", "not_found")
        positions = [index for index, _ in valid]
        errors.extend({**r, "index": positions[r["index"]]} for r in refused)
        return {"written": len(written), "refused": sorted(errors, key=lambda e: e["index"])}


@blueprint.route("/campaigns/<int:campaign_id>/orders")
class CampaignOrders(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(CampaignOrdersQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """The orders the campaign's sends are credited with (within the attribution window), first
        placed first, each with its contact and the days from the send; keyset pages with a cursor."""
        try:
            return recipients.campaign_orders(
                db.session, g.account_id, campaign_id, limit=query["limit"], cursor=query.get("cursor")
            )
        except UnknownCampaign:
            fail(404, f"no campaign {campaign_id}", "not_found")
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")


@blueprint.route("/campaigns/<int:campaign_id>/results")
class CampaignResults(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """Sends by status, opens, clicks, QR scans, and the orders that followed within the window."""
        try:
            return campaign_results.campaign_results(db.session, g.account_id, campaign_id)
        except UnknownCampaign:
            fail(404, f"no campaign {campaign_id}", "not_found")
