"""The import page of a store (under Setup): upload a CSV file, see what a check of it found, confirm,
follow the import, read and download its bad rows, and open past imports.

Changes go by `fetch` to the JSON API (`/api/v1/stores/<id>/imports/check`, `/imports/<id>/start`);
the page reads the check the same way the API makes it (`views.imports.check_import`).
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from connectors.csv.bad_rows import bad_rows_csv
from connectors.csv.check import Check
from connectors.csv.formats import KINDS
from integration.store.models import Import, ImportStatus, Store
from integration.web.admin.frame import SHOPIFY_PARAMETERS, blueprint
from integration.web.admin.i18n import number
from integration.web.admin.setup import _account, show
from integration.web.admin.viewer import admin_page
from integration.web.context import db
from integration.web.views.imports import ENCODINGS, check_import
from integration.web.views.reasons import translated as translated_reason

# Past imports shown on a store's import page, newest first.
PAST_IMPORTS = 50
DONE = (ImportStatus.FINISHED, ImportStatus.FAILED)


def kind_names() -> dict[str, str]:
    return {
        "customers": _("Customers"),
        "orders": _("Orders"),
        "checkouts": _("Checkouts"),
        "events": _("Events"),
    }


def layout_names() -> dict[str, str]:
    return {
        "storepulse": _("storepulse's own columns"),
        "shopify_customers": _("Shopify customer export"),
        "shopify_orders": _("Shopify order export"),
    }


def encoding_names() -> dict[str, str]:
    return {
        "utf-8": _("UTF-8"),
        "utf-8-sig": _("UTF-8 with a byte order mark"),
        "cp1250": _("Windows-1250 (Central European)"),
        "cp1252": _("Windows-1252 (Western European, Latin-1)"),
    }


def status_names() -> dict[ImportStatus, str]:
    return {
        ImportStatus.CHECKED: _("Checked, not imported"),
        ImportStatus.QUEUED: _("Waiting"),
        ImportStatus.RUNNING: _("Importing"),
        ImportStatus.FINISHED: _("Done"),
        ImportStatus.FAILED: _("Failed"),
    }


def problem_text(check: Check) -> str:
    """Why a checked file cannot be imported, in the merchant's words."""
    text: str
    if check.problem == "empty":
        text = _("The file is empty.")
    elif check.problem == "encoding":
        text = _("The file's text is not in the encoding chosen. Choose another encoding below.")
    elif check.problem == "duplicate_column":
        text = _("The header names a column twice.")
    elif check.problem == "no_rows":
        text = _("The file has a header and no rows.")
    elif check.problem == "missing_columns":
        text = _(
            "Columns this kind of file needs are missing: %(columns)s.", columns=", ".join(check.missing)
        )
    else:
        text = _("The file cannot be read as CSV: %(why)s", why=check.detail or "")
    return text


def _store(store_id: int) -> Store:
    chosen = db.session.get(Store, store_id)
    if chosen is None or chosen.account_id != g.viewer.account_id:
        abort(404)
    return chosen


def _owned_import(import_id: int) -> Import:
    job = db.session.get(Import, import_id)
    if job is None:
        abort(404)
    _store(job.store_id)
    return job


def _choice(name: str, allowed: list[str] | tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    return value if value in allowed else None


@blueprint.get("/setup/stores/<int:store_id>/import")
@admin_page
def store_import(store_id: int) -> str:
    """Upload a CSV file to a store, check it, import it, follow it; and the store's past imports."""
    _account()
    chosen = _store(store_id)
    job = None
    if request.args.get("import", "").isdigit():
        job = _owned_import(int(request.args["import"]))
        if job.store_id != chosen.id:
            abort(404)
    check = kind = encoding = None
    if job is not None and job.status is ImportStatus.CHECKED:
        kind, encoding = _choice("kind", KINDS), _choice("encoding", ENCODINGS)
        check = check_import(job, kind, encoding)
    past = db.session.scalars(
        select(Import)
        .where(Import.store_id == chosen.id)
        .order_by(Import.created_at.desc(), Import.id.desc())
        .limit(PAST_IMPORTS)
    ).all()
    placeholder: dict[str, Any] = {"import": "__id__"}
    return show(
        "setup_import.html",
        _("Import a CSV file into %(store)s", store=chosen.name),
        store=chosen,
        kinds=list(kind_names().items()),
        kind_names=kind_names(),
        layout_names=layout_names(),
        encoding_names=encoding_names(),
        encodings=[(e, encoding_names()[e]) for e in ENCODINGS],
        status_names=status_names(),
        job=job,
        check=check,
        problem=problem_text(check) if check is not None and check.problem else None,
        chosen_kind=kind,
        chosen_encoding=encoding,
        done=job is not None and job.status in DONE,
        past=past,
        sample=_sample(check) if check is not None else [],
        keep=[(k, v) for k, v in request.args.items() if g.viewer.embedded and k in SHOPIFY_PARAMETERS],
        # admin.js puts the answer's id in place of {id}
        next_url=url_for("admin.store_import", store_id=chosen.id, **placeholder).replace("__id__", "{id}"),
    )


def _sample(check: Check) -> list[list[str]]:
    """The first rows, each as wide as the header (a short row padded, a long one cut)."""
    width = len(check.header) + 1
    return [(row + [""] * width)[:width] for row in check.sample]


@blueprint.get("/setup/imports/<int:import_id>/progress")
@admin_page
def import_progress(import_id: int) -> dict[str, Any]:
    """Whether an import is done, and how far it got (the import page polls this)."""
    job = _owned_import(import_id)
    percent = min(100, round(100 * job.bytes_read / job.bytes_total)) if job.bytes_total else 0
    return {
        "ready": job.status in DONE,
        "percent": percent,
        "text": _("%(percent)s%% read, %(rows)s rows so far.", percent=percent, rows=number(job.rows_read)),
    }


@blueprint.get("/setup/imports/<int:import_id>/bad-rows.csv")
@admin_page
def import_bad_rows(import_id: int) -> Response:
    """The import's bad rows as a CSV file: row, column, reason (as the page says it) and the row's cells."""
    job = _owned_import(import_id)
    stem = job.filename.rsplit(".", 1)[0] or "import"
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:80]
    return Response(
        bad_rows_csv({**e, "reason": translated_reason(e.get("reason") or "")} for e in job.errors or []),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-bad-rows.csv"'},
    )
