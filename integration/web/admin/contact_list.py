"""The contact list: search, the engagement and subscription filters, sorting, keyset pages, and
each contact's group with why it is there."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from integration.contacts.lists import SORTS, list_contacts
from integration.keyset import BadCursor
from integration.store.models import Account
from integration.store.types import utcnow
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import on_day
from integration.web.admin.viewer import admin_page
from integration.web.context import db

PAGE_SIZE = 50
GROUPS = ("engaged", "unengaged", "blocked")
STATUSES = ("subscribed", "unknown", "unsubscribed")


def interaction_names() -> dict[str, str]:
    """What each counted interaction is called on the page."""
    return {
        "email_open": _("Opened an email"),
        "email_click": _("Clicked in an email"),
        "product_view": _("Viewed a product"),
        "add_to_cart": _("Added to cart"),
        "qr_scan": _("Scanned a QR code"),
        "order_placed": _("Ordered"),
    }


def why(contact: dict[str, Any]) -> str:
    """Why the contact is in its group, in words: the deciding interaction and its day, or the block."""
    blocked = contact["blocked"]
    if blocked:
        cause = _("Hard bounce") if blocked["reason"] == "hard_bounce" else _("Spam complaint")
        return str(
            _("%(cause)s on %(day)s", cause=cause, day=on_day(blocked["at"])) if blocked["at"] else cause
        )
    engagement = contact["engagement"]
    last, kind = engagement["last_interaction_at"], engagement["last_interaction_type"]
    if engagement["status"] == "engaged" and last and kind:
        return str(_("%(action)s on %(day)s", action=interaction_names().get(kind, kind), day=on_day(last)))
    if last:
        return str(_("Nothing since %(day)s", day=on_day(last)))
    return str(_("No interaction yet"))


@blueprint.get("/contacts/list")
@admin_page
def contact_list() -> str | tuple[str, int]:
    """A page of the account's contacts, narrowed and sorted as the merchant chose."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    search = (request.args.get("q") or "").strip()[:200] or None
    group = request.args.get("group") if request.args.get("group") in GROUPS else None
    status = request.args.get("subscription") if request.args.get("subscription") in STATUSES else None
    sort = str(request.args.get("sort")) if request.args.get("sort") in SORTS else SORTS[0]
    parts: list[dict[str, Any]] = []
    if group:
        parts.append({"engagement": [group]})
    if status:
        parts.append({"subscription": [status]})
    condition = None if not parts else parts[0] if len(parts) == 1 else {"all": parts}
    try:
        found = list_contacts(
            db.session,
            account.id,
            condition,
            search=search,
            sort=sort,
            limit=PAGE_SIZE,
            cursor=request.args.get("cursor") or None,
            now=utcnow(),
        )
        stale = False
    except BadCursor:  # a link from before the data changed shape: start again from the first page
        found = list_contacts(
            db.session, account.id, condition, search=search, sort=sort, limit=PAGE_SIZE, now=utcnow()
        )
        stale = True
    kept: dict[str, Any] = {
        k: v for k, v in {"q": search, "group": group, "subscription": status, "sort": sort}.items() if v
    }
    names = {"engaged": _("Engaged"), "unengaged": _("Unengaged"), "blocked": _("Blocked")}
    statuses = {"subscribed": _("Subscribed"), "unknown": _("Unknown"), "unsubscribed": _("Unsubscribed")}
    rows = [_row(contact, names, statuses) for contact in found["contacts"]]
    return render_template(
        "admin/contact_list.html",
        title=_("Contact list"),
        rows=rows,
        search=search or "",
        group=group,
        status=status,
        sort=sort,
        stale=stale,
        group_tabs=[
            (label, url_for("admin.contact_list", **_with(kept, "group", value)), group == value)
            for value, label in ((None, _("All")), *names.items())
        ],
        status_options=[("", _("Any subscription status")), *statuses.items()],
        sort_options=[
            ("-last_interaction_at", _("Latest interaction first")),
            ("last_interaction_at", _("Oldest interaction first")),
            ("email", _("Email, A to Z")),
            ("-email", _("Email, Z to A")),
            ("-first_seen_at", _("Newest contacts first")),
            ("first_seen_at", _("Oldest contacts first")),
        ],
        next_url=url_for("admin.contact_list", **kept, cursor=found["next_cursor"])
        if found["next_cursor"]
        else None,
        first_url=url_for("admin.contact_list", **kept) if request.args.get("cursor") else None,
    )


def _with(query: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """The list's query with one choice changed (or dropped), from its first page."""
    changed = {k: v for k, v in query.items() if k != name}
    return {**changed, name: value} if value else changed


def _row(contact: dict[str, Any], names: dict[str, str], statuses: dict[str, str]) -> list[Any]:
    email = contact["email"] or _("(no email)")
    if "admin.contact" in current_app.view_functions:  # the profile page
        shown: Any = Markup('<a href="{}">{}</a>').format(
            url_for("admin.contact", contact_id=contact["id"]), email
        )
    else:
        shown = email
    name = " ".join(part for part in (contact["first_name"], contact["last_name"]) if part)
    group = contact["engagement"]["status"]
    return [
        shown,
        name,
        statuses.get(contact["subscription"]["status"], contact["subscription"]["status"]),
        Markup('<span data-group="{}">{}</span>').format(
            group or "", names.get(group or "", _("Not classified yet"))
        ),
        Markup("<span data-why>{}</span>").format(why(contact)),
    ]
