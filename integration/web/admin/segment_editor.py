"""The segment editor: a name, a description and the filter builder, with a live count as it changes.

The pages save through the JSON API (`/api/v1/segments`); the builder asks `/admin/segments/preview`
for its count, which is `segments.preview`'s, the same as the API's preview.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy import select

from integration.audiences import filters, segments
from integration.store.models import Account, Segment, Store
from integration.web.admin.condition_words import words
from integration.web.admin.contact_list import group_names
from integration.web.admin.filter_catalog import catalog
from integration.web.admin.frame import blueprint, csrf
from integration.web.admin.i18n import number
from integration.web.admin.viewer import admin_page
from integration.web.context import db
from integration.web.views.reasons import translated

SAMPLE_SIZE = 10  # contacts shown under the count: enough to recognise, not a list to read
EMPTY_FILTER: dict[str, Any] = {"all": []}
PLACEHOLDER_ID = 918273645  # stands for the saved segment's id in the address builder.js goes to


def segment_url(segment_id: int | str) -> str:
    """The segment's own page (by its path while that page is not part of the admin)."""
    if "admin.segment" in current_app.view_functions:
        return url_for("admin.segment", segment_id=segment_id)
    return f"{url_for('admin.contacts')}segments/{segment_id}"


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


def store_names(account_id: int) -> dict[int, str]:
    """The account's stores by id, as a store condition names them."""
    rows = db.session.execute(select(Store.id, Store.name).where(Store.account_id == account_id))
    return {store_id: name for store_id, name in rows}


def _editor(account: Account, segment: Segment | None) -> str:
    return render_template(
        "admin/segment_editor.html",
        title=_("Edit segment") if segment else _("New segment"),
        segment=segment,
        catalog=catalog(account),
        start=segment.filter if segment else EMPTY_FILTER,
        preview_url=url_for("admin.segment_preview"),
        save_method="PUT" if segment else "POST",
        save_url=f"/api/v1/segments/{segment.id}" if segment else "/api/v1/segments",
        # builder.js puts the saved segment's id in place of {id}
        next_url=segment_url(PLACEHOLDER_ID).replace(str(PLACEHOLDER_ID), "{id}"),
        contacts_url=url_for("admin.contact_list"),
    )


@blueprint.get("/segments/new")
@admin_page
def segment_new() -> str:
    """Build a new segment's filter and save it."""
    return _editor(_account(), None)


@blueprint.get("/segments/<int:segment_id>/edit")
@admin_page
def segment_edit(segment_id: int) -> str | tuple[str, int]:
    """Change a saved segment's name, description and filter; predefined ones are shown, not edited."""
    account = _account()
    try:
        segment = segments.get(db.session, account.id, segment_id)
    except LookupError:
        abort(404)
    if segment.predefined:
        return render_template(
            "admin/segment_predefined.html",
            title=segment.name,
            segment=segment,
            segment_url=segment_url(segment.id),
        )
    return _editor(account, segment)


def _reason(messages: Any) -> str:
    """The reasons marshmallow gives for one condition, in one line."""
    if isinstance(messages, dict):
        return " ".join(_reason(m) for m in messages.values())
    if isinstance(messages, list):
        return " ".join(_reason(m) for m in messages)
    return str(messages)


def _errors(raw: Any, path: tuple[int, ...] = ()) -> dict[str, str]:
    """Why each leaf of an invalid filter is refused, by builder path ("" for the filter's shape)."""
    if not isinstance(raw, dict) or len(raw) != 1:
        return {".".join(map(str, path)): _("This condition is not complete.")}
    key, value = next(iter(raw.items()))
    if key in ("all", "any") and isinstance(value, list):
        parts = list(enumerate(value))
    elif key == "not":
        inner = value["any"] if isinstance(value, dict) and list(value) == ["any"] else [value]
        parts = list(enumerate(inner)) if isinstance(inner, list) else []
    else:
        try:
            filters.parse(raw)
        except ValidationError as exc:
            return {".".join(map(str, path)): _reason(translated(exc.messages))}
        return {}
    found: dict[str, str] = {}
    for n, part in parts:
        found.update(_errors(part, (*path, n)))
    return found


@blueprint.post("/segments/preview")
@admin_page
def segment_preview() -> ResponseReturnValue:
    """How many contacts the builder's filter selects, a few of them, and each condition in words."""
    if not g.viewer.embedded:
        try:
            csrf.protect()  # a cookie session: the page's token must come along
        except CSRFError:
            return {"code": "csrf_failed", "message": _("Reload the page and try again.")}, 403
    body = request.get_json(silent=True)
    raw = body.get("filter") if isinstance(body, dict) else None
    try:
        condition = filters.parse(raw)
    except ValidationError as exc:
        errors = _errors(raw) or {"": _reason(translated(exc.messages))}
        return {"count": None, "errors": errors}, 422
    # The top level of the builder is always a group: a bare condition is its first part.
    shown = condition if next(iter(condition)) in filters.GROUPS else {"all": [condition]}
    found = segments.preview(db.session, g.viewer.account_id, raw)
    groups = group_names()
    sample = [
        {
            "id": c["id"],
            "email": c["email"] or _("(no email)"),
            "name": " ".join(p for p in (c["first_name"], c["last_name"]) if p),
            "group": str(groups.get(c["engagement"]["status"] or "", _("Not classified yet"))),
        }
        for c in found["contacts"][:SAMPLE_SIZE]
    ]
    return {
        "count": found["count"],
        "count_text": ngettext(
            "%(count)s contact matches now.",
            "%(count)s contacts match now.",
            found["count"],
            count=number(found["count"]),
        ),
        "contacts": sample,
        "words": words(shown, store_names(g.viewer.account_id)),
        "contacts_url": url_for("admin.contact_list", filter=json.dumps(raw, separators=(",", ":"))),
    }
