"""Notifications: `/api/v1/notifications`, newest first, each reader's own read state."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration import notifications
from integration.audiences import exports
from integration.errors import NotFound
from integration.keyset import BadCursor
from integration.notifications import Reader
from integration.store.models import NotificationKind, SegmentExport
from integration.web.context import current_settings, db
from integration.web.views.auth import BEARER, fail, require_api_key
from integration.web.views.inputs import page_cursor_field

blueprint = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Notifications")
require_api_key(blueprint)


class ListQuery(Schema):
    cursor = page_cursor_field()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


def current_reader() -> Reader:
    """The caller as a reader: the signed-in user, the Shopify staff member, or the API key."""
    if g.get("user_id") is not None:
        return notifications.user_reader(g.account_id, g.user_id)
    if g.get("shopify_staff"):
        return notifications.shopify_reader(g.account_id, g.shopify_staff)
    return notifications.key_reader(g.account_id, g.get("api_key_id") or 0)


def with_downloads(session: Session, items: list[dict[str, Any]], secret_key: str) -> list[dict[str, Any]]:
    """Give each ready export's notification its download link, made now (links expire)."""
    wanted = {
        int(item["data"]["export_id"])
        for item in items
        if item["kind"] == NotificationKind.EXPORT_READY and isinstance(item["data"].get("export_id"), int)
    }
    found = (
        {e.id: e for e in session.scalars(select(SegmentExport).where(SegmentExport.id.in_(wanted)))}
        if wanted
        else {}
    )
    for item in items:
        export = (
            found.get(item["data"].get("export_id"))
            if item["kind"] == NotificationKind.EXPORT_READY
            else None
        )
        item["download"] = exports.download_link(export, secret_key) if export is not None else None
    return items


@blueprint.route("/notifications")
class Notifications(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.arguments(ListQuery, location="query")
    @blueprint.response(200)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The caller's notifications, newest first, with how many are unread and the next page's cursor."""
        reader = current_reader()
        try:
            page = notifications.listing(db.session, reader, limit=query["limit"], cursor=query.get("cursor"))
        except BadCursor as exc:
            fail(422, str(exc), "invalid_cursor")
        items = with_downloads(db.session, page["notifications"], current_settings().secret_key)
        for item in items:
            item["created_at"] = item["created_at"].isoformat()
        return {
            "notifications": items,
            "unread": notifications.unread_count(db.session, reader),
            "unread_cap": notifications.UNREAD_CAP,
            "next_cursor": page["next_cursor"],
        }


@blueprint.route("/notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def post(self, notification_id: int) -> dict[str, Any]:
        """Mark one notification read for the caller."""
        reader = current_reader()
        try:
            notifications.mark_read(db.session, reader, notification_id)
        except NotFound as exc:
            fail(404, str(exc), "not_found")
        return {"id": notification_id, "read": True, "unread": notifications.unread_count(db.session, reader)}


@blueprint.route("/notifications/read")
class AllRead(MethodView):
    @blueprint.doc(security=BEARER)
    @blueprint.response(200)
    def post(self) -> dict[str, Any]:
        """Mark every notification the caller has not read as read."""
        marked = notifications.mark_all_read(db.session, current_reader())
        return {"marked": marked, "unread": 0}
