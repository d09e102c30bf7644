"""The Syncs pages, where results go: the destinations (Shopify tags, Mailchimp, Klaviyo, a signed
webhook) and the syncs keeping a segment in step with one, each with its dry run and its runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import g, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from integration.audiences import destinations, segments, sync
from integration.store.models import (
    Account,
    Contact,
    Destination,
    DestinationKind,
    Platform,
    Segment,
    Store,
    Sync,
)
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import number, when
from integration.web.admin.segments import segment_name
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db

PLACEHOLDER_ID = 999_999_999  # stands for the id of a sync being made, in the URL to go to after
KINDS = ("webhook", "mailchimp", "klaviyo", "shopify")


def kind_names() -> dict[str, str]:
    return {
        "webhook": _("Signed webhook"),
        "mailchimp": _("Mailchimp audience"),
        "klaviyo": _("Klaviyo list"),
        "shopify": _("Shopify customer tags"),
    }


def status_names() -> dict[str, str]:
    return {
        "paused": _("Paused"),
        "idle": _("On, waiting for the next run"),
        "running": _("Running"),
        "stopped": _("Stopped"),
        "succeeded": _("Succeeded"),
        "partial": _("Some contacts failed"),
        "failed": _("Failed"),
    }


def reason_names() -> dict[str | None, str]:
    """Why a contact is in a dry run's sample, by action and reason."""
    return {
        "add": _("In the segment, not yet sent"),
        "update": _("Details changed since they were sent"),
        "left": _("Left the segment"),
        "unsubscribed": _("Unsubscribed from marketing"),
        "blocked": _("Blocked after bounces or complaints"),
        "deleted": _("Deleted or without an email address"),
    }


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


def _shopify_stores(account_id: int) -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(Store.id, Store.name)
        .where(Store.account_id == account_id, Store.platform == Platform.SHOPIFY)
        .order_by(Store.id)
    )
    return [(store_id, name) for store_id, name in rows]


def _link(label: str, href: str, hook: str, value: int) -> Markup:
    return Markup('<a href="{}" data-{}="{}">{}</a>').format(href, hook, value, label)


def _destination_rows(rows: list[Destination]) -> list[list[Any]]:
    names = kind_names()
    return [
        [
            _link(d.name, url_for("admin.destination", destination_id=d.id), "destination", d.id),
            names[d.kind.value],
            _where(d),
            Markup("<span data-credentials>{}</span>").format(_credentials_note(d)),
            when(d.created_at),
        ]
        for d in rows
    ]


def _where(destination: Destination) -> str:
    """What a destination points at, without its secrets: a URL, a list's id, a store."""
    config = destination.config
    if destination.kind == DestinationKind.WEBHOOK:
        return str(config.get("url", ""))
    if destination.kind == DestinationKind.SHOPIFY:
        store = db.session.get(Store, int(config.get("store_id") or 0))
        return store.name if store is not None else ""
    return str(_("List %(list)s", list=config.get("list_id", "")))


def _credentials_note(destination: Destination) -> str:
    if destination.kind == DestinationKind.SHOPIFY:
        return str(_("The store's own connection"))
    if destination.credentials is None:
        return str(_("Not set"))
    return str(_("Set; never shown again"))


@blueprint.get("/syncs", endpoint="syncs")
@admin_page
def syncs_page() -> str:
    """The account's destinations and syncs, and the forms adding them."""
    account = _account()
    mine = select(Destination).where(Destination.account_id == account.id).order_by(Destination.id)
    found = list(db.session.scalars(mine))
    by_id = {d.id: d for d in found}
    segments.ensure_predefined(db.session, account.id)
    listed = db.session.scalars(
        select(Segment)
        .where(Segment.account_id == account.id)
        .order_by(Segment.predefined.desc(), Segment.id)
    ).all()
    segment_names = {s.id: segment_name(s) for s in listed}
    statuses = status_names()
    sync_rows = []
    for item in destinations.account_syncs(db.session, account.id):
        described = destinations.describe_sync(db.session, item)
        last = described["last_run"]
        sync_rows.append(
            [
                _link(
                    _(
                        "%(segment)s to %(destination)s",
                        segment=segment_names.get(item.segment_id, ""),
                        destination=by_id[item.destination_id].name,
                    ),
                    url_for("admin.sync", sync_id=item.id),
                    "sync",
                    item.id,
                ),
                Markup("<span data-status>{}</span>").format(statuses[described["status"]]),
                described["tag"] or "",
                Markup("<span data-delivered>{}</span>").format(number(described["delivered"])),
                number(described["failing"]),
                when(last["started_at"]) if last else _("Never"),
            ]
        )
    kind = request.args.get("kind", "webhook")
    kind = kind if kind in KINDS else "webhook"
    names = kind_names()
    return render_template(
        "admin/syncs.html",
        title=_("Syncs"),
        destination_rows=_destination_rows(found),
        sync_rows=sync_rows,
        kind=kind,
        kind_tabs=[(names[k], url_for("admin.syncs", kind=k) + "#add-destination", k == kind) for k in KINDS],
        stores=_shopify_stores(account.id),
        segment_options=[(str(s.id), segment_names[s.id]) for s in listed],
        destination_options=[(str(d.id), f"{d.name} ({names[d.kind.value]})") for d in found],
        tag_prefix=current_settings().tag_prefix,
        sync_next=url_for("admin.sync", sync_id=PLACEHOLDER_ID).replace(str(PLACEHOLDER_ID), "{id}"),
        manages=g.viewer.manages,
        refusals=json.dumps(
            {
                "exists": _("A sync already sends this segment to this destination."),
                "tag_taken": _("Another sync of this destination writes that tag: choose another tag."),
                "invalid_mode": _(
                    "This destination does not take that mode: "
                    "Shopify takes customer tags, the others an audience."
                ),
            }
        ),
    )


@blueprint.get("/syncs/destinations/<int:destination_id>", endpoint="destination")
@admin_page
def destination_page(destination_id: int) -> str | tuple[str, int]:
    """A destination: what it points at, whether its credentials are set, and replacing them."""
    account = _account()
    try:
        found = destinations.get_destination(db.session, account.id, destination_id)
    except LookupError:
        return _missing(_("Destination not found"))
    stopped = db.session.scalars(
        select(Sync).where(Sync.destination_id == found.id, Sync.status == "stopped").order_by(Sync.id)
    ).all()
    return render_template(
        "admin/sync_destination.html",
        title=found.name,
        destination=found,
        kind_name=kind_names()[found.kind.value],
        where=_where(found),
        credentials_note=_credentials_note(found),
        stopped=len(stopped),
        manages=g.viewer.manages,
        list_url=url_for("admin.syncs"),
    )


def _missing(title: str) -> tuple[str, int]:
    return render_template("admin/sync_missing.html", title=title), 404


def duration(started: str, finished: str | None) -> str:
    """How long a run took, in words ("4 seconds"); empty while it runs."""
    if finished is None:
        return ""
    taken = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    return str(format_timedelta(taken, granularity="second", threshold=1.0))


@blueprint.get("/syncs/<int:sync_id>", endpoint="sync")
@admin_page
def sync_page(sync_id: int) -> str | tuple[str, int]:
    """A sync: its state, the dry run of its next run (before the first one, or asked for) and its runs."""
    account = _account()
    try:
        found = destinations.get_sync(db.session, account.id, sync_id)
    except LookupError:
        return _missing(_("Sync not found"))
    described = destinations.describe_sync(db.session, found)
    destination = db.session.get(Destination, found.destination_id)
    segment = db.session.get(Segment, found.segment_id)
    assert destination is not None  # noqa: S101 - the sync's own destination
    assert segment is not None  # noqa: S101 - the sync's own segment
    runs = destinations.runs(db.session, found.id)
    asked = request.args.get("preview") == "1"
    preview = sync.preview(db.session, found) if asked or not found.enabled else None
    statuses, reasons = status_names(), reason_names()
    run_rows, error_rows = [], []
    failed_ids = {problem["contact_id"] for run in runs for problem in run["errors"]}
    emails = dict(
        db.session.execute(
            select(Contact.id, Contact.email).where(
                Contact.account_id == account.id, Contact.id.in_(failed_ids)
            )
        ).all()
    )
    for run in runs:
        started = when(run["started_at"])
        run_rows.append(
            [
                Markup('<span data-run="{}">{}</span>').format(run["id"], started),
                statuses.get(run["status"], run["status"]),
                *(
                    Markup('<span data-run-{}="{}">{}</span>').format(key, run[key], number(run[key]))
                    for key in ("adds", "updates", "removes", "unchanged", "failed")
                ),
                duration(run["started_at"], run["finished_at"]),
            ]
        )
        for problem in run["errors"]:
            error_rows.append(
                [
                    started,
                    Markup('<a href="{}" data-error-contact="{}">{}</a>').format(
                        url_for("admin.contact", contact_id=problem["contact_id"]),
                        problem["contact_id"],
                        emails.get(problem["contact_id"]) or _("Contact %(id)s", id=problem["contact_id"]),
                    ),
                    _action_name(problem.get("action")),
                    Markup("<span data-contact-error>{}</span>").format(problem["error"]),
                ]
            )
    samples = {}
    if preview is not None:
        for action in ("adds", "updates", "removes"):
            samples[action] = [
                [
                    item["email"] or _("(no email)"),
                    reasons.get(item["reason"] or action.removesuffix("s"), item["reason"] or ""),
                ]
                for item in preview["sample"][action]
            ]
    return render_template(
        "admin/sync.html",
        title=_(
            "%(segment)s to %(destination)s", segment=segment_name(segment), destination=destination.name
        ),
        sync=described,
        status_name=statuses[described["status"]],
        destination=destination,
        kind_name=kind_names()[destination.kind.value],
        destination_url=url_for("admin.destination", destination_id=destination.id),
        segment_url=url_for("admin.segment", segment_id=segment.id),
        segment_label=segment_name(segment),
        preview=preview,
        samples=samples,
        preview_url=url_for("admin.sync", sync_id=found.id, preview=1) + "#preview",
        run_rows=run_rows,
        error_rows=error_rows,
        failing=destinations.failing(db.session, found.id),
        last_run=described["last_run"],
        list_url=url_for("admin.syncs"),
    )


def _action_name(action: str | None) -> str:
    names = {"add": _("Add"), "update": _("Update"), "remove": _("Remove")}
    return str(names.get(action or "", action or ""))
