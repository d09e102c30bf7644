"""The RFM page: the R×F grid with each cell's segment, size and revenue share, the score boundaries
in words, the scheme's editor, and the spender tiers, each group a step from its segment.

The numbers are read from the stored scores by the same domain functions as `GET /api/v1/rfm`
(`rfm.overview`, `rfm.grid`); nothing is computed over every contact while the page loads.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import g, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup
from sqlalchemy import select

from integration.analytics import rfm
from integration.audiences import segments
from integration.store.models import Account, Segment
from integration.web.admin.filter_words import choice_labels
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import money, number, on_day, percent
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db
from jobs.compute import request_rfm_refresh, request_segments_refresh

SCORES = range(1, 6)
# Light backgrounds for the grid's segments, in the scheme's order: dark text stays readable on each.
PALETTE = (
    "#cfeedd",
    "#d6e4fb",
    "#fbe6bf",
    "#e6dbf7",
    "#fbd9d9",
    "#d3eef2",
    "#efecbd",
    "#f6d8ec",
    "#e2e6ea",
    "#dcefcb",
    "#f3e1d3",
    "#d9dcf5",
)
SEGMENT_ID_SLOT = 999_999_999_999  # replaced by the saved segment's id in the page's script


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


def segment_label(name: str) -> str:
    """An RFM segment's name in the page's language (the default ones are named by us)."""
    if "rfm_labels" not in g:  # translated once per request: the page names segments many times
        g.rfm_labels = choice_labels()["rfm_segment"]
    labels: dict[str, str] = g.rfm_labels
    return labels.get(name, name)


def named(action: str, group: str) -> str:
    """A control's accessible name: its visible text first (as screen reader users say it), then its group."""
    return f"{action}: {group}"


def list_url(condition: dict[str, Any]) -> str:
    """The contact list showing the contacts a filter selects."""
    return url_for("admin.contact_list", filter=json.dumps(condition, separators=(",", ":")))


def _predefined(account_id: int) -> dict[str, int]:
    """The account's predefined segments by key; new ones are computed at once, as the Segments page does."""
    segments.ensure_predefined(db.session, account_id)
    rows = db.session.execute(
        select(Segment.key, Segment.id, Segment.refreshed_at).where(
            Segment.account_id == account_id, Segment.predefined.is_(True)
        )
    ).all()
    if any(refreshed is None for _key, _id, refreshed in rows):
        db.commit()  # the job reads the segments made above
        request_segments_refresh(current_settings(), account_id)
    return {key: segment_id for key, segment_id, _refreshed in rows if key}


def _shares(revenue: list[dict[str, Any]]) -> str:
    """Revenue and its share per currency, never summed across currencies."""
    return "; ".join(
        _(
            "%(share)s of %(currency)s revenue (%(amount)s)",
            share=percent(r["share_percent"]),
            currency=r["currency"],
            amount=money(r["amount"], r["currency"]),
        )
        for r in sorted(revenue, key=lambda r: r["currency"])
    )


def _grid(overview: dict[str, Any], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 25 cells, R5 at the top, each with its segment, size, shares, colour and contact list."""
    names = rfm.segment_names(overview["rules"])
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    owner = {
        (r, f): rule["name"]
        for rule in overview["rules"]
        for r in range(rule["r"][0], rule["r"][1] + 1)
        for f in range(rule["f"][0], rule["f"][1] + 1)
    }
    found = {(c["r"], c["f"]): c for c in cells}
    rows = []
    for r in reversed(SCORES):
        row = []
        for f in SCORES:
            cell = found.get((r, f), {"contacts": 0, "revenue": []})
            name = owner[(r, f)]
            row.append(
                {
                    "r": r,
                    "f": f,
                    "key": rfm.cell_key(r, f),
                    "segment": name,
                    "label": segment_label(name),
                    "colour": colour[name],
                    "contacts": cell["contacts"],
                    "revenue": cell["revenue"],
                    "shares": _shares(cell["revenue"]),
                    "url": list_url({"all": [{"rfm_recency": [r]}, {"rfm_frequency": [f]}]}),
                }
            )
        rows.append({"r": r, "cells": row})
    return rows


def _recency_words(cut: dict[str, Any], last: int) -> str:
    score, low, high = cut["score"], on_day(cut["last_order_from"]), on_day(cut["last_order_to"])
    if score == last:
        text = _("R%(score)s: last order on or after %(day)s", score=score, day=low)
    elif score == 1:
        text = _("R%(score)s: last order on or before %(day)s", score=score, day=high)
    else:
        text = _("R%(score)s: last order from %(start)s to %(end)s", score=score, start=low, end=high)
    return str(text)


def _frequency_words(cut: dict[str, Any], last: int) -> str:
    score, low, high = cut["score"], cut["orders_from"], cut["orders_to"]
    if score == last and score != 1:
        text = ngettext(
            "F%(score)s: %(num)s order or more", "F%(score)s: %(num)s orders or more", low, score=score
        )
    elif low == high:
        text = ngettext("F%(score)s: %(num)s order", "F%(score)s: %(num)s orders", low, score=score)
    else:
        text = _("F%(score)s: %(low)s–%(high)s orders", score=score, low=number(low), high=number(high))
    return str(text)


def _monetary_words(cut: dict[str, Any]) -> str:
    score, currency = cut["score"], cut["currency"]
    low, high = money(cut["spent_from"], currency), money(cut["spent_to"], currency)
    if low == high:
        text = _("M%(score)s in %(currency)s: spent %(amount)s", score=score, currency=currency, amount=low)
    else:
        text = _(
            "M%(score)s in %(currency)s: spent from %(low)s to %(high)s",
            score=score,
            currency=currency,
            low=low,
            high=high,
        )
    return str(text)


def boundaries(cuts: dict[str, Any] | None) -> dict[str, list[str]]:
    """Each score's boundaries in words, in the account's time zone; the highest R and F open-ended."""
    cuts = cuts or {"r": [], "f": [], "m": []}
    last_r = max((c["score"] for c in cuts["r"]), default=5)
    last_f = max((c["score"] for c in cuts["f"]), default=5)
    return {
        "r": [_recency_words(c, last_r) for c in sorted(cuts["r"], key=lambda c: -c["score"])],
        "f": [_frequency_words(c, last_f) for c in sorted(cuts["f"], key=lambda c: -c["score"])],
        "m": [_monetary_words(c) for c in cuts["m"]],
    }


def _segment_rows(overview: dict[str, Any], predefined: dict[str, int]) -> list[list[Any]]:
    """Each RFM segment: its size, revenue shares, contacts and its predefined segment (export, sync)."""
    rows = []
    for s in overview["segments"]:
        segment_id = predefined.get(f"rfm:{s['name']}")
        rows.append(
            [
                Markup('<span data-segment-name="{}">{}</span>').format(s["name"], segment_label(s["name"])),
                Markup('<span data-segment-size="{}">{}</span>').format(s["contacts"], number(s["contacts"])),
                _shares(s["revenue"]) or "–",
                Markup('<a href="{}" data-contacts-link aria-label="{}">{}</a>').format(
                    list_url({"rfm_segment": [s["name"]]}),
                    named(_("Contacts"), segment_label(s["name"])),
                    _("Contacts"),
                ),
                _segment_link(segment_id, segment_label(s["name"])),
            ]
        )
    return rows


def _segment_link(segment_id: int | None, label: str) -> Any:
    if segment_id is None:
        return "–"
    return Markup('<a href="{}" data-predefined-segment="{}" aria-label="{}">{}</a>').format(
        url_for("admin.segment", segment_id=segment_id),
        segment_id,
        named(_("Export and sync"), label),
        _("Export and sync"),
    )


def _save_button(name: str, condition: dict[str, Any], label: str) -> Any:
    """A button that saves the group as a segment (`admin.js`): Polaris's inside Shopify, ours outside."""
    tag = (
        Markup(
            '<s-button variant="secondary" data-save-segment data-name="{}" data-filter="{}" '
            'accessibilityLabel="{}">{}</s-button>'
        )
        if g.viewer.embedded
        else Markup(
            '<button type="button" class="button button-secondary" data-save-segment data-name="{}" '
            'data-filter="{}" aria-label="{}">{}</button>'
        )
    )
    return tag.format(
        name,
        json.dumps(condition),
        named(_("Save as segment"), label),
        _("Save as segment"),
    )


def _tier_rows(spenders: dict[str, int], predefined: dict[str, int]) -> list[list[Any]]:
    """The spender tiers: size, definition in words, and their segment (predefined, or one to save)."""
    tiers: list[tuple[str, str, str, str | None, dict[str, Any] | None]] = [
        (
            "big",
            _("Big spenders"),
            _("The top 1% by money spent in their currency (at least one contact)"),
            "tier:big",
            None,
        ),
        (
            "medium",
            _("Medium spenders"),
            _("The next 19% by money spent in their currency"),
            "tier:medium",
            None,
        ),
        ("low", _("Low spenders"), _("The other buyers (80%)"), "tier:low", None),
        ("frequent_buyers", _("Frequent buyers"), _("The top 25% by number of orders"), "frequent", None),
        (
            "one_time_buyers",
            _("One-time buyers"),
            _("Exactly one order"),
            None,
            {"orders_count": {"min": 1, "max": 1}},
        ),
        (
            "returning_buyers",
            _("Returning buyers"),
            _("Two orders or more"),
            None,
            {"orders_count": {"min": 2}},
        ),
        (
            "never_purchased",
            _("Never purchased"),
            _("No order yet (RFM's prospects)"),
            f"rfm:{rfm.PROSPECTS}",
            None,
        ),
    ]
    rows = []
    for key, label, definition, segment_key, condition in tiers:
        action = (
            _save_button(label, condition, label)
            if condition is not None
            else _segment_link(predefined.get(segment_key or ""), label)
        )
        rows.append(
            [
                label,
                Markup('<span data-tier="{}" data-size="{}">{}</span>').format(
                    key, spenders[key], number(spenders[key])
                ),
                definition,
                action,
            ]
        )
    return rows


def _scheme_options(overview: dict[str, Any]) -> list[tuple[str, str]]:
    names = rfm.segment_names([*overview["rules"], *rfm.DEFAULT_SCHEME])
    return [("", _("No segment")), *((name, segment_label(name)) for name in names)]


@blueprint.get("/rfm", endpoint="rfm")
@admin_page
def rfm_page() -> str:
    """The R×F grid, the boundaries in words, the scheme and the spender tiers, as last computed."""
    account = _account()
    computed_at: datetime | None = account.rfm_computed_at
    if computed_at is None:  # never computed: the job computes it now, not at its next round
        queued = request_rfm_refresh(current_settings(), account.id)
        return render_template("admin/rfm.html", title=_("RFM"), state="not_computed", queued=queued)
    overview = rfm.overview(db.session, account.id)
    if not any(s["contacts"] for s in overview["segments"][:-1]):
        return render_template(
            "admin/rfm.html",
            title=_("RFM"),
            state="no_buyers",
            computed_at=computed_at,
            never=overview["spenders"]["never_purchased"],
        )
    predefined = _predefined(account.id)
    grid = _grid(overview, rfm.grid(db.session, account.id))
    cell_rows = [
        [
            Markup('<span data-cell-row="{}">R{} F{}</span>').format(c["key"], c["r"], c["f"]),
            c["label"],
            Markup('<span data-cell-size="{}">{}</span>').format(c["contacts"], number(c["contacts"])),
            c["shares"] or "–",
        ]
        for row in grid
        for c in row["cells"]
    ]
    return render_template(
        "admin/rfm.html",
        title=_("RFM"),
        state="ready",
        computed_at=computed_at,
        custom=overview["scheme"] == "custom",
        grid=grid,
        cell_rows=cell_rows,
        words=boundaries(overview["cuts"]),
        segment_rows=_segment_rows(overview, predefined),
        tier_rows=_tier_rows(overview["spenders"], predefined),
        options=_scheme_options(overview),
        segment_url=url_for("admin.segment", segment_id=SEGMENT_ID_SLOT).replace(
            str(SEGMENT_ID_SLOT), "{id}"
        ),
    )
