"""The contact list: search, the engagement and subscription filters, sorting, keyset pages, and
each contact's group with why it is there."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from marshmallow import ValidationError

from integration.audiences import filters
from integration.contacts.lists import SORTS, list_contacts
from integration.keyset import BadCursor
from integration.store.models import Account, User
from integration.store.types import utcnow
from integration.web.admin.frame import blueprint, csrf
from integration.web.admin.i18n import on_day
from integration.web.admin.viewer import admin_page
from integration.web.context import db

PAGE_SIZE = 50
GROUPS = ("engaged", "unengaged", "blocked")
STATUSES = ("subscribed", "unknown", "unsubscribed")
# The columns a merchant may show, in their order; the email always comes first (it names the row).
COLUMNS = ("email", "name", "subscription", "group", "why", "last_interaction", "first_seen", "tags")
DEFAULT_COLUMNS = ("email", "name", "subscription", "group", "why")
# The columns a list can be sorted by, and the sort (of `lists.SORTS`) each header asks for first.
SORTABLE = {"email": "email", "last_interaction": "-last_interaction_at", "first_seen": "-first_seen_at"}
MAX_FILTER_CHARS = 20_000  # a filter in the address: far more than the builder's 100 conditions take


def group_names() -> dict[str, str]:
    """The engagement groups' names in the page's language."""
    return {"engaged": _("Engaged"), "unengaged": _("Unengaged"), "blocked": _("Blocked")}


def status_names() -> dict[str, str]:
    """The subscription statuses' names in the page's language."""
    return {"subscribed": _("Subscribed"), "unknown": _("Unknown"), "unsubscribed": _("Unsubscribed")}


def column_names() -> dict[str, str]:
    """Each column's header in the page's language."""
    return {
        "email": _("Email"),
        "name": _("First and last name"),
        "subscription": _("Subscription"),
        "group": _("Group"),
        "why": _("Why"),
        "last_interaction": _("Last interaction"),
        "first_seen": _("First seen"),
        "tags": _("Tags"),
    }


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


def subscription_reason(code: str | None) -> str | None:
    """Why a contact's subscription status is what it is, in words; a code without words as it is."""
    if not code:
        return None
    words = {
        "shopify_customer": _("changed in Shopify"),
        "csv_customer": _("from a CSV import"),
        "api_customer": _("from the API"),
        "redacted": _("personal data erased"),
        "unsubscribe": _("unsubscribed through an email"),
        "subscribe": _("subscribed through an email tool"),
        "spam_complaint": _("spam complaint"),
        "hard_bounce": _("hard bounce"),
    }
    return str(words.get(code, code))


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


def chosen_columns(names: Any) -> list[str]:
    """The known columns among `names`, in the list's order, the email always first."""
    wanted = set(names) if isinstance(names, list | tuple) else set()
    return [c for c in COLUMNS if c == "email" or c in wanted]


def saved_columns() -> list[str]:
    """The viewer's columns: from the address (embedded pages keep the choice in the browser), else
    the signed-in user's preferences, else the default ones."""
    asked = request.args.get("columns")
    if asked:
        return chosen_columns(asked.split(","))
    if g.viewer.user_id is not None:
        user = db.session.get(User, g.viewer.user_id)
        kept = ((user.preferences if user else None) or {}).get("contact_list", {}).get("columns")
        if kept:
            return chosen_columns(kept)
    return list(DEFAULT_COLUMNS)


def parsed_filter(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The `filter` parameter as a parsed filter, or why it cannot be used."""
    if not text:
        return None, None
    try:
        if len(text) > MAX_FILTER_CHARS:
            raise ValueError("too long")
        return filters.parse(json.loads(text)), None
    except (ValueError, ValidationError):
        return None, _("The filter in this address is not valid, so it was left out.")


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
    chosen, refused = parsed_filter(request.args.get("filter"))
    parts: list[dict[str, Any]] = [chosen] if chosen else []
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
    columns = saved_columns()
    kept: dict[str, Any] = {
        k: v
        for k, v in {
            "q": search,
            "group": group,
            "subscription": status,
            "sort": sort,
            "filter": request.args.get("filter") if chosen else None,
            "columns": request.args.get("columns"),
        }.items()
        if v
    }
    names = group_names()
    statuses = status_names()
    rows = [_row(contact, columns, names, statuses) for contact in found["contacts"]]
    headers, header_attrs = _headers(columns, sort, kept)
    return render_template(
        "admin/contact_list.html",
        title=_("Contact list"),
        rows=rows,
        headers=headers,
        header_attrs=header_attrs,
        columns=columns,
        column_choices=[(c, label) for c, label in column_names().items() if c != "email"],
        columns_url=url_for("admin.contact_list_columns"),
        search=search or "",
        group=group,
        status=status,
        sort=sort,
        stale=stale,
        refused=refused,
        filtered=chosen is not None,
        kept_filter=kept.get("filter"),
        kept_columns=kept.get("columns"),
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


@blueprint.post("/contacts/list/columns")
@admin_page
def contact_list_columns() -> ResponseReturnValue:
    """Keep the columns the viewer chose: a signed-in user's in their preferences; an embedded
    viewer has no user here, so the answer's columns are kept by the page in the browser."""
    if not g.viewer.embedded:
        try:
            csrf.protect()  # a cookie session: the page's token must come along
        except CSRFError:
            return {"code": "csrf_failed", "message": _("Reload the page and try again.")}, 403
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"code": "invalid", "message": _("Choose the columns to show.")}, 422
    # The form sends one checkbox per column ({"name": true, ...}); a program may send a list.
    named = (
        body.get("columns") if isinstance(body.get("columns"), list) else [k for k, v in body.items() if v]
    )
    columns = chosen_columns(named)
    stored = "browser"
    if g.viewer.user_id is not None:
        user = db.session.get(User, g.viewer.user_id)
        if user is not None:
            preferences = dict(user.preferences or {})
            preferences["contact_list"] = {**preferences.get("contact_list", {}), "columns": columns}
            user.preferences = preferences  # a new value: the JSON column sees the change
            db.commit()
            stored = "user"
    return {"columns": columns, "stored": stored}


def _headers(columns: list[str], sort: str, kept: dict[str, Any]) -> tuple[list[Any], list[dict[str, str]]]:
    """The table's headers: sortable ones link to the list sorted by them (the other way when they
    already sort it), and say how the list is sorted."""
    labels = column_names()
    headers: list[Any] = []
    attrs: list[dict[str, str]] = []
    for column in columns:
        first = SORTABLE.get(column)
        if first is None:
            headers.append(labels[column])
            attrs.append({})
            continue
        name = first.lstrip("-")
        current = sort.lstrip("-") == name
        ascending = current and not sort.startswith("-")
        flipped = (name if sort.startswith("-") else "-" + name) if current else first
        state = ("ascending" if ascending else "descending") if current else None
        link = url_for("admin.contact_list", **{**_with(kept, "sort", flipped)})
        headers.append(
            Markup('<a href="{}" data-sort-link="{}">{}</a>').format(link, flipped, labels[column])
        )
        attrs.append({"aria-sort": state} if state else {})
    return headers, attrs


def _with(query: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """The list's query with one choice changed (or dropped), from its first page."""
    changed = {k: v for k, v in query.items() if k != name}
    return {**changed, name: value} if value else changed


def _row(
    contact: dict[str, Any], columns: list[str], names: dict[str, str], statuses: dict[str, str]
) -> list[Any]:
    cells: dict[str, Any] = {}
    email = contact["email"] or _("(no email)")
    if "admin.contact" in current_app.view_functions:  # the profile page
        cells["email"] = Markup('<a href="{}">{}</a>').format(
            url_for("admin.contact", contact_id=contact["id"]), email
        )
    else:
        cells["email"] = email
    cells["name"] = " ".join(part for part in (contact["first_name"], contact["last_name"]) if part)
    cells["subscription"] = statuses.get(contact["subscription"]["status"], contact["subscription"]["status"])
    group = contact["engagement"]["status"]
    cells["group"] = Markup('<span data-group="{}">{}</span>').format(
        group or "", names.get(group or "", _("Not classified yet"))
    )
    cells["why"] = Markup("<span data-why>{}</span>").format(why(contact))
    last = contact["engagement"]["last_interaction_at"]
    cells["last_interaction"] = on_day(last) if last else _("Never")
    cells["first_seen"] = on_day(contact["first_seen_at"]) if contact["first_seen_at"] else ""
    cells["tags"] = ", ".join(contact["tags"] or [])
    return [cells[column] for column in columns]
