"""The notifications page, and the unread count every page's header shows."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from integration import notifications
from integration.keyset import BadCursor
from integration.notifications import Reader
from integration.store.models import Account, NotificationKind
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import number
from integration.web.admin.viewer import Viewer, admin_page
from integration.web.context import current_settings, db
from integration.web.views.notifications import with_downloads

PAGE_SIZE = 30


def reader_of(viewer: Viewer) -> Reader:
    """The viewer as a reader: the signed-in user, or the Shopify staff member looking."""
    if viewer.user_id is not None:
        return notifications.user_reader(viewer.account_id, viewer.user_id)
    return notifications.shopify_reader(viewer.account_id, viewer.staff_id or "")


@blueprint.context_processor
def _unread() -> dict[str, Any]:
    viewer = g.get("viewer")
    if viewer is None:
        return {"unread_notifications": None}
    count = notifications.unread_count(db.session, reader_of(viewer))
    shown = f"{number(notifications.UNREAD_CAP - 1)}+" if count >= notifications.UNREAD_CAP else number(count)
    label = ngettext("%(count)s unread notification", "%(count)s unread notifications", count, count=shown)
    return {"unread_notifications": {"count": count, "shown": shown, "label": label}}


def text_of(item: dict[str, Any]) -> str:
    """What happened, in words."""
    return str(_words(item))


def _words(item: dict[str, Any]) -> Any:
    data = item["data"]
    kind = item["kind"]
    if kind == NotificationKind.EXPORT_READY:
        rows = int(data.get("rows") or 0)
        return ngettext(
            "The export of %(segment)s is ready: %(count)s contact.",
            "The export of %(segment)s is ready: %(count)s contacts.",
            rows,
            segment=data.get("segment") or "",
            count=number(rows),
        )
    if kind == NotificationKind.EXPORT_FAILED:
        return _(
            "The export of %(segment)s failed. Try exporting it again.", segment=data.get("segment") or ""
        )
    if kind == NotificationKind.SYNC_STOPPED:
        return _(
            "The sync to %(destination)s stopped: the destination refused the credentials. "
            "Enter new ones to restart it.",
            destination=data.get("destination") or _("a destination"),
        )
    if kind == NotificationKind.IMPORT_FINISHED:
        return _(
            "The import of %(file)s finished. Rows read: %(rows)s; rows with errors: %(failed)s.",
            file=data.get("filename") or "",
            rows=number(int(data.get("rows") or 0)),
            failed=number(int(data.get("failed") or 0)),
        )
    if kind == NotificationKind.IMPORT_FAILED:
        return _("The import of %(file)s failed.", file=data.get("filename") or "")
    if kind == NotificationKind.STORE_DISCONNECTED and data.get("reason"):  # keys the shop refused
        return _(
            "%(store)s was disconnected: the shop refused storepulse's keys. Its data is kept; "
            "connect it again in Setup.",
            store=data.get("store") or _("A store"),
        )
    if kind == NotificationKind.STORE_DISCONNECTED:
        return _(
            "%(store)s was disconnected: the app was uninstalled from the shop. Its data is kept.",
            store=data.get("store") or _("A store"),
        )
    return _("A background task failed after its retries: %(task)s.", task=data.get("function") or "")


def link_of(item: dict[str, Any]) -> tuple[str, str] | None:
    """Where the notification leads, as (label, URL), when that page exists."""
    data = item["data"]
    kind = item["kind"]
    pages = current_app.view_functions
    if kind == NotificationKind.EXPORT_READY and item.get("download"):
        return _("Download the CSV file"), str(item["download"])
    if (
        kind in (NotificationKind.IMPORT_FINISHED, NotificationKind.IMPORT_FAILED)
        and "admin.store_import" in pages
    ):
        return _("Open the import"), url_for(
            "admin.store_import", store_id=data["store_id"], **{"import": data["import_id"]}
        )
    if kind == NotificationKind.SYNC_STOPPED and "admin.sync" in pages and data.get("sync_id"):
        return _("Open the sync"), url_for("admin.sync", sync_id=data["sync_id"])
    if kind == NotificationKind.STORE_DISCONNECTED and "admin.stores" in pages:
        return _("Open the stores"), url_for("admin.stores")
    return None


@blueprint.get("/notifications", endpoint="notifications")
@admin_page
def notifications_page() -> str:
    """The viewer's notifications, newest first, with their links and a way to mark them read."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    reader = reader_of(g.viewer)
    cursor = request.args.get("cursor") or None
    try:
        page = notifications.listing(db.session, reader, limit=PAGE_SIZE, cursor=cursor)
    except BadCursor:  # a link from before: start again from the newest
        page = notifications.listing(db.session, reader, limit=PAGE_SIZE)
        cursor = None
    items = with_downloads(db.session, page["notifications"], current_settings().secret_key)
    shown = [
        {
            **item,
            "text": text_of(item),
            "link": link_of(item),
            "times": ngettext("Happened %(num)s time.", "Happened %(num)s times.", item["occurrences"])
            if item["occurrences"] > 1
            else None,
        }
        for item in items
    ]
    return render_template(
        "admin/notifications.html",
        title=_("Notifications"),
        items=shown,
        any_unread=any(not item["read"] for item in items),
        next_url=url_for("admin.notifications", cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=url_for("admin.notifications") if cursor else None,
    )
