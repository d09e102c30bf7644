"""The Segments pages: every segment with its definition in words, and one segment's members,
history, reach and why a chosen member is (or is not) in it."""

from __future__ import annotations

from typing import Any

from babel import Locale
from babel.lists import format_list
from flask import current_app, g, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from integration.audiences import filters, segments
from integration.audiences.explain import explain
from integration.store.models import Account, Contact, Segment, Store
from integration.store.types import MAX_ID, utcnow
from integration.web.admin.charts import line_chart
from integration.web.admin.filter_words import choice_labels, describe
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import number, on_day, when
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db
from jobs.compute import request_segments_refresh

PAGE_SIZE = 50  # members per page
CHANGES_SHOWN = 20  # latest entries and exits


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


def segment_name(segment: Segment) -> str:
    """A segment's name in the page's language (the predefined ones are named by us)."""
    key = segment.key or ""
    if not segment.predefined:
        return segment.name
    if key.startswith("rfm:"):
        name = key.removeprefix("rfm:")
        return str(_("RFM: %(segment)s", segment=choice_labels()["rfm_segment"].get(name, name)))
    if key.startswith("tier:"):
        tier = key.removeprefix("tier:")
        return choice_labels()["spender_tier"].get(tier, segment.name)
    names = {
        "engaged_subscribed": _("Engaged subscribers"),
        "unengaged": _("Unengaged"),
        "blocked": _("Blocked"),
        "sunset": _("Sunset candidates"),
        "frequent": _("Frequent buyers"),
    }
    return str(names.get(key, segment.name))


def segment_description(segment: Segment, account: Account) -> str | None:
    """A segment's description in the page's language (the predefined ones are described by us)."""
    if not segment.predefined:
        return segment.description
    if segment.key == "engaged_subscribed":
        return str(_("Subscribed and engaged: the newsletter default"))
    if segment.key == "sunset":
        return str(
            _(
                "Subscribed, with no counted interaction in %(days)s days (the time frame plus %(sunset)s)",
                days=account.engagement_window_days + account.sunset_days,
                sunset=account.sunset_days,
            )
        )
    return None


def summary(node: dict[str, Any]) -> str:
    """A definition on one line: conditions joined by "and" or "or", nested groups in parentheses."""
    if node["kind"] == "leaf" or not node["parts"]:
        return str(node["text"])
    locale: Locale = get_locale() or Locale("en")
    if node["kind"] == "not":
        return str(_("not (%(condition)s)", condition=summary(node["parts"][0])))
    parts = [
        f"({summary(p)})" if p["kind"] in ("all", "any") and len(p["parts"]) > 1 else summary(p)
        for p in node["parts"]
    ]
    return str(format_list(parts, style="standard" if node["kind"] == "all" else "or", locale=locale))


def _store_names(account_id: int) -> dict[int, str]:
    rows = db.session.execute(select(Store.id, Store.name).where(Store.account_id == account_id))
    return {store_id: name for store_id, name in rows}


def _contact_cell(contact_id: int, email: str | None) -> Any:
    shown = email or _("(no email)")
    if "admin.contact" in current_app.view_functions:  # the contact's profile page
        return Markup('<a href="{}">{}</a>').format(url_for("admin.contact", contact_id=contact_id), shown)
    return shown


@blueprint.get("/segments", endpoint="segments")  # the module's name, not the domain's
@admin_page
def segments_page() -> str:
    """The account's segments: the predefined ones first, then the saved ones."""
    account = _account()
    segments.ensure_predefined(db.session, account.id)
    stores = _store_names(account.id)
    rows = []
    order = (Segment.predefined.desc(), Segment.id)
    mine = select(Segment).where(Segment.account_id == account.id)
    listed = db.session.scalars(mine.order_by(*order)).all()
    computing = any(s.refreshed_at is None for s in listed)
    if computing:  # new segments (an account's first visit): computed now, not at the next hourly round
        db.commit()  # the job reads the segments made above
        request_segments_refresh(current_settings(), account.id)
    for segment in listed:
        rows.append(
            [
                Markup('<a href="{}" data-segment="{}">{}</a>').format(
                    url_for("admin.segment", segment_id=segment.id), segment.id, segment_name(segment)
                ),
                Markup("<span data-definition>{}</span>").format(
                    summary(describe(segment.filter, store_names=stores))
                ),
                Markup("<span data-kind>{}</span>").format(
                    _("Predefined, not editable") if segment.predefined else _("Saved")
                ),
                Markup("<span data-size>{}</span>").format(
                    number(segment.members_count) if segment.refreshed_at else "–"
                ),
                when(segment.refreshed_at) if segment.refreshed_at else _("Being computed"),
            ]
        )
    return render_template(
        "admin/segments.html",
        title=_("Segments"),
        rows=rows,
        computing=computing,
        new_url=url_for("admin.segment_new") if "admin.segment_new" in current_app.view_functions else None,
    )


def _merged(words: dict[str, Any], met: dict[str, Any] | None) -> dict[str, Any]:
    """The definition in words with, for the chosen member, each node met or not."""
    inner = met["parts"] if met else [None] * len(words["parts"])
    parts = [_merged(w, m) for w, m in zip(words["parts"], inner, strict=True)]
    return {**words, "met": met["met"] if met else None, "parts": parts}


def _id_arg(name: str) -> int | None:
    """A contact id from the query, if it is one (a hand-edited link may hold anything)."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and int(value) <= MAX_ID else None


def _why(
    account_id: int, contact_id: int, condition: dict[str, Any], words: dict[str, Any]
) -> dict[str, Any]:
    """The definition for one contact, each condition marked met or not; `found` False for a stranger."""
    met = explain(db.session, account_id, contact_id, condition, now=utcnow())
    contact = db.session.get(Contact, contact_id) if met is not None else None
    if met is None or contact is None:
        return {"found": False}
    return {"found": True, "tree": _merged(words, met), "contact": _contact_cell(contact_id, contact.email)}


def _change_rows(segment_id: int) -> list[list[Any]]:
    """The latest entries and exits: who, which way, why and when."""
    changes = segments.history(db.session, segment_id, limit=CHANGES_SHOWN)
    found = db.session.execute(
        select(Contact.id, Contact.email).where(Contact.id.in_({c["contact_id"] for c in changes}))
    )
    emails = {contact_id: email for contact_id, email in found}
    reasons = {"created": _("Segment created"), "edited": _("Definition edited"), "data": _("Data changed")}
    return [
        [
            _contact_cell(c["contact_id"], emails.get(c["contact_id"])),
            Markup('<span data-change="{}">{}</span>').format(
                c["change"], _("Entered") if c["change"] == "entered" else _("Left")
            ),
            reasons.get(c["reason"], c["reason"]),
            when(c["at"]),
        ]
        for c in changes
    ]


def _member_rows(segment_id: int, contacts: list[dict[str, Any]], after: int) -> list[list[Any]]:
    """A page of members, each with a link to why it is in the segment (on the same page of members)."""
    kept: dict[str, Any] = {"after": after} if after else {}
    return [
        [
            _contact_cell(m["id"], m["email"]),
            " ".join(part for part in (m["first_name"], m["last_name"]) if part),
            Markup('<a href="{}#why" data-why-link="{}" aria-label="{}">{}</a>').format(
                url_for("admin.segment", segment_id=segment_id, why=m["id"], **kept),
                m["id"],
                _("Why is %(email)s here?", email=m["email"] or _("(no email)")),
                _("Why?"),
            ),
        ]
        for m in contacts
    ]


@blueprint.get("/segments/<int:segment_id>")
@admin_page
def segment(segment_id: int) -> str | tuple[str, int]:
    """A segment: its definition, size and reach, history, members, and why a member is in it."""
    account = _account()
    found = db.session.get(Segment, segment_id)
    if found is None or found.account_id != account.id:
        return render_template("admin/segment_missing.html", title=_("Segment not found")), 404
    condition = filters.parse(found.filter)
    words = describe(condition, store_names=_store_names(account.id))
    after = _id_arg("after") or 0
    page = segments.members(db.session, found.id, after, PAGE_SIZE)
    why_id = _id_arg("why")
    points = [{"day": s["at"], "members": s["members"]} for s in segments.sizes(db.session, found.id)]
    return render_template(
        "admin/segment.html",
        title=segment_name(found),
        segment=found,
        description=segment_description(found, account),
        words=words,
        reach=segments.reachable(db.session, found.id),
        chart=line_chart(
            points,
            [("members", "line-members", _("Members"))],
            title=_("Members after each computation that changed them"),
            label_x=on_day,
            label_y=number,
        )
        if points
        else None,
        size_rows=[
            [when(p["day"]), Markup("<span data-size-point>{}</span>").format(number(p["members"]))]
            for p in points
        ],
        change_rows=_change_rows(found.id),
        member_rows=_member_rows(found.id, page["contacts"], after),
        next_url=url_for("admin.segment", segment_id=found.id, after=page["next_after"])
        if page["next_after"]
        else None,
        first_url=url_for("admin.segment", segment_id=found.id) if after else None,
        why=_why(account.id, why_id, condition, words) if why_id is not None else None,
        list_url=url_for("admin.segments"),
        edit_url=url_for("admin.segment_edit", segment_id=found.id)
        if not found.predefined and "admin.segment_edit" in current_app.view_functions
        else None,
    )
