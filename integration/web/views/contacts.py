"""Contacts: the list, the statistics (`GET /api/v1/contacts/stats`), their daily trend, a contact's
profile and activity timeline."""

from __future__ import annotations

import json
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from integration import keyset
from integration.analytics.history import next_snapshot_at, trend, trend_start
from integration.analytics.stats import SubscriptionFilter, cached_stats
from integration.audiences.filters import parse
from integration.campaigns import messages
from integration.contacts import timeline
from integration.contacts.lists import MAX_LIMIT, SORTS, list_contacts
from integration.contacts.profile import DEFAULT_ORDERS, order_detail, profile
from integration.keyset import BadCursor
from integration.store.types import utcnow
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, ErrorSchema, fail, require_api_key
from integration.web.views.inputs import (
    ONE_LINE,
    FilterParameter,
    next_cursor_field,
    page_cursor_field,
    page_limit_field,
)

blueprint = Blueprint("contacts", __name__, url_prefix="/api/v1", description="Contacts")
require_api_key(blueprint)


class StatsQuerySchema(Schema):
    subscription = fields.Enum(
        SubscriptionFilter,
        by_value=True,
        load_default=SubscriptionFilter.SUBSCRIBED_UNKNOWN,
        metadata={"description": "subscribed, unknown, or subscribed_unknown (both)"},
    )


@blueprint.route("/contacts/stats")
class Stats(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(StatsQuerySchema, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Engaged, unengaged and blocked contacts: counts, shares summing to 100.00, AOV, ACV, ANO."""
        return cached_stats(db.session, g.account_id, query["subscription"])


TREND_DAYS_DEFAULT = 90
TREND_DAYS_MAX = 366


class TrendQuerySchema(StatsQuerySchema):
    days = fields.Integer(
        load_default=TREND_DAYS_DEFAULT,
        validate=validate.Range(1, TREND_DAYS_MAX),
        metadata={"description": "how many days back, today included: 1–366, default 90"},
    )


class TrendPointSchema(Schema):
    day = fields.String(metadata={"description": "the UTC day of the count, YYYY-MM-DD"})
    engaged = fields.Integer()
    unengaged = fields.Integer()
    blocked = fields.Integer()


class TrendSchema(Schema):
    subscription = fields.String()
    days = fields.Integer()
    points = fields.List(
        fields.Nested(TrendPointSchema),
        metadata={"description": "one per day with a count, oldest first; days without one are absent"},
    )
    next_snapshot_at = fields.DateTime(
        metadata={"description": "the time (UTC) by which the next daily count is taken"}
    )


@blueprint.route("/contacts/trend")
class Trend(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(TrendQuerySchema, location="query")
    @blueprint.response(200, TrendSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Each group's count per day from the daily snapshots, and when the next one is taken."""
        now = utcnow()
        choice: SubscriptionFilter = query["subscription"]
        return {
            "subscription": choice.value,
            "days": query["days"],
            "points": trend(db.session, g.account_id, choice.statuses(), trend_start(query["days"], now)),
            "next_snapshot_at": next_snapshot_at(db.session, g.account_id, now),
        }


class ListQuerySchema(Schema):
    filter = FilterParameter(metadata={"description": "a condition of the filter language, as JSON"})
    engagement = fields.String(
        metadata={"description": "shortcut: engaged,unengaged,blocked (comma-separated)"}
    )
    subscription = fields.String(metadata={"description": "shortcut: subscribed,unknown,unsubscribed"})
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "search: contacts whose email, an earlier email, first or last name contains "
            "every word (case-insensitive), e.g. `ann smith` or `@example.com`"
        },
    )
    sort = fields.String(load_default="-last_interaction_at", validate=validate.OneOf(SORTS))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = page_cursor_field()


@blueprint.route("/contacts")
class Contacts(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(ListQuerySchema, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Contacts matching a filter and a search, each with why it is in its group; keyset pages."""
        parts: list[Any] = []
        try:
            if "filter" in query:
                parts.append(json.loads(query["filter"]))
            for shortcut in ("engagement", "subscription"):
                if shortcut in query:
                    parts.append({shortcut: [v.strip() for v in query[shortcut].split(",") if v.strip()]})
            # One part stands alone, so a filter nested as deep as a segment's may be listed too.
            condition = None if not parts else parse(parts[0]) if len(parts) == 1 else parse({"all": parts})
        except json.JSONDecodeError as exc:
            fail(422, f"filter is not JSON: {exc}", "invalid_filter")
        except ValidationError as exc:
            fail(422, "invalid filter", "invalid_filter", {"filter": exc.messages})
        try:
            return list_contacts(
                db.session,
                g.account_id,
                condition,
                search=query.get("q"),
                sort=query["sort"],
                limit=query["limit"],
                cursor=query.get("cursor"),
                now=utcnow(),
            )
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")


class ProfileQuerySchema(Schema):
    orders = fields.String(
        load_default=str(DEFAULT_ORDERS),
        validate=validate.Regexp(r"^(all|[1-9][0-9]{0,2}|1000)$", error="a number from 1 to 1000, or all"),
        metadata={"description": "how many orders to list (newest first): 1–1000 or all; default 10"},
    )
    orders_cursor = fields.String(metadata={"description": "orders_next_cursor of the previous answer"})


@blueprint.route("/contacts/<int:contact_id>")
class ContactDetail(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(ProfileQuerySchema, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any], contact_id: int) -> dict[str, Any]:
        """A contact's profile: identity, subscription, engagement, orders, abandoned carts, campaigns."""
        limit = None if query["orders"] == "all" else int(query["orders"])
        try:
            detail = profile(
                db.session,
                g.account_id,
                contact_id,
                orders_limit=limit,
                orders_cursor=query.get("orders_cursor"),
            )
        except keyset.BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")
        if detail is None:
            fail(404, f"no contact {contact_id}", "not_found")
        return detail


@blueprint.route("/contacts/<int:contact_id>/orders/<int:order_id>")
class ContactOrder(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def get(self, contact_id: int, order_id: int) -> dict[str, Any]:
        """One order of the contact: line items (title, variant or SKU, quantity, unit price, line total)."""
        detail = order_detail(db.session, g.account_id, contact_id, order_id)
        if detail is None:
            fail(404, f"no order {order_id} of contact {contact_id}", "not_found")
        return detail


class TimelineQuerySchema(Schema):
    limit = page_limit_field("entries", timeline.MAX_LIMIT, timeline.DEFAULT_LIMIT)
    cursor = page_cursor_field()


class TimelineEntrySchema(Schema):
    at = fields.String(required=True, metadata={"description": "when it happened, UTC, ISO 8601"})
    kind = fields.String(
        required=True, metadata={"description": "what happened, one of: " + ", ".join(timeline.KINDS)}
    )
    amount = fields.String(
        allow_none=True, metadata={"description": "an order's total, a refund's or a cart's amount"}
    )
    currency = fields.String(allow_none=True, metadata={"description": "the amount's ISO 4217 code"})
    order_id = fields.Integer(
        allow_none=True,
        metadata={"description": "the order (for a recovered cart: the order that recovered it)"},
    )
    order_name = fields.String(allow_none=True, metadata={"description": "the order's name in its store"})
    campaign_id = fields.Integer(allow_none=True)
    campaign_name = fields.String(allow_none=True)
    channel = fields.String(
        allow_none=True, metadata={"description": "the campaign's channel: email or letter"}
    )
    segment_id = fields.Integer(allow_none=True)
    segment_name = fields.String(allow_none=True)
    product_id = fields.String(
        allow_none=True, metadata={"description": "the product viewed or added to a cart"}
    )
    from_ = fields.String(
        data_key="from", allow_none=True, metadata={"description": "the status or group before a change"}
    )
    to = fields.String(allow_none=True, metadata={"description": "the status or group after a change"})
    reason = fields.String(allow_none=True, metadata={"description": "why the change happened"})


class TimelineSchema(Schema):
    entries = fields.List(fields.Nested(TimelineEntrySchema), required=True)
    next_cursor = next_cursor_field()


@blueprint.route("/contacts/<int:contact_id>/timeline")
class ContactTimeline(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(TimelineQuerySchema, location="query")
    @blueprint.response(200, TimelineSchema)
    @blueprint.alt_response(404, schema=ErrorSchema, description="no such contact in this account")
    def get(self, query: dict[str, Any], contact_id: int) -> dict[str, Any]:
        """The contact's activity, newest first: orders, carts, campaigns, interactions and changes."""
        try:
            page = timeline.timeline(
                db.session, g.account_id, contact_id, limit=query["limit"], cursor=query.get("cursor")
            )
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")
        if page is None:
            fail(404, f"no contact {contact_id}", "not_found")
        return {
            "entries": [{**entry, "from_": entry["from"]} for entry in page["entries"]],
            "next_cursor": page["next_cursor"],
        }


class MessageSchema(Schema):
    subject = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=300), ONE_LINE],
    )
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    override_unsubscribed = fields.Boolean(
        load_default=False,
        metadata={"description": "send to an unsubscribed contact anyway (not for marketing)"},
    )
    override = fields.Boolean(
        load_default=False,
        metadata={
            "description": "send although the contact was contacted within the account's frequency cap "
            "(else 409 recently_contacted); a send within the cap records that it overrode it"
        },
    )


@blueprint.route("/contacts/<int:contact_id>/messages")
class ContactMessages(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(MessageSchema)
    @blueprint.response(201)
    @blueprint.alt_response(
        409,
        schema=ErrorSchema,
        description="may not be sent: contact_blocked, contact_unsubscribed, no_sender, or "
        "recently_contacted (details: last_contacted_at, UTC, and frequency_cap_days)",
    )
    @blueprint.alt_response(
        502, schema=ErrorSchema, description="the mail server refused or is unreachable (code smtp_failed)"
    )
    def post(self, data: dict[str, Any], contact_id: int) -> dict[str, Any]:
        """Send one email to the contact through the account's mail server; it shows on the profile.

        A contact contacted within the account's frequency cap is refused (409 recently_contacted)
        unless `override` is true.
        """
        settings = current_settings()
        try:
            send = messages.send_message(
                db.session,
                settings.encryption_keys,
                g.account_id,
                contact_id,
                data["subject"],
                data["body"],
                override_unsubscribed=data["override_unsubscribed"],
                override_frequency_cap=data["override"],
            )
        except messages.MessageRefused as exc:
            if exc.reason == "smtp_failed":
                db.commit()  # the failed send stays on the profile
            status = {"not_found": 404, "smtp_failed": 502}.get(exc.reason, 409)
            fail(status, str(exc), exc.reason, exc.details)
        return {
            "campaign_id": send.campaign_id,
            "status": send.status.value,
            "sent_at": send.sent_at.isoformat() if send.sent_at else None,
            "frequency_cap_overridden": send.frequency_cap_overridden,
        }
