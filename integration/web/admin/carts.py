"""The Carts page: carts abandoned in a period (days in the account's time zone), how many were
recovered and the revenue they brought per currency, day by day, and the carts themselves.

The numbers come from the domain functions behind `/api/v1/carts/stats` and `/api/v1/carts`, so the
page and the API agree. Whether a cart is abandoned or recovered is the domain's decision (by the
times of the checkout and the order, never by the order they arrived in); the page only shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, render_template, request, url_for
from flask_babel import format_timedelta, ngettext
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import exists, select

from integration.commerce.cart_days import MAX_DAYS, cart_days, day_start, item_titles
from integration.commerce.cart_list import list_carts
from integration.commerce.cart_stats import cart_stats
from integration.keyset import BadCursor
from integration.store.models import Account, Checkout, CheckoutState, Store
from integration.store.types import utcnow
from integration.web.admin.charts import bar_chart
from integration.web.admin.frame import SHOPIFY_PARAMETERS, blueprint
from integration.web.admin.i18n import day_label, number
from integration.web.admin.viewer import admin_page
from integration.web.context import db

PAGE_SIZE = 50  # carts per page
DEFAULT_DAYS = 30
QUICK_DAYS = (7, 30, 90)
# The list's filter: the page's word for it and the state it asks the domain for (None: both).
STATES = {"all": None, "open": CheckoutState.ABANDONED, "recovered": CheckoutState.RECOVERED}
TITLES_SHOWN = 2  # the first items named in the list; the rest are counted


@dataclass
class Period:
    """The chosen days (both included), what was typed, and why it was refused, if it was."""

    first: date
    last: date
    typed: dict[str, str]
    errors: list[str] = field(default_factory=list)


def chosen_period(today: date) -> Period:
    """The query's `from` and `to` days; the last 30 days (today included) when not given."""
    typed = {name: request.args.get(name, "").strip() for name in ("from", "to")}
    first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    errors = []
    days: dict[str, date] = {}
    for name, label in (("from", _("From")), ("to", _("To"))):
        if not typed[name]:
            continue
        try:
            days[name] = date.fromisoformat(typed[name])
        except ValueError:
            errors.append(_("%(field)s is not a day: write it as YYYY-MM-DD.", field=label))
    first, last = days.get("from", first), days.get("to", last)
    if not errors and first > last:
        errors.append(_("The period must start on or before its last day."))
    elif not errors and (last - first).days >= MAX_DAYS:
        errors.append(_("Choose a period of at most %(days)s days.", days=MAX_DAYS))
    return Period(first, last, typed, errors)


def delay_words(minutes: int) -> str:
    """The abandonment delay in whole days, hours or minutes, as the merchant set it."""
    if minutes and minutes % (24 * 60) == 0:
        return str(ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60)))
    if minutes and minutes % 60 == 0:
        return str(ngettext("%(num)d hour", "%(num)d hours", minutes // 60))
    return str(ngettext("%(num)d minute", "%(num)d minutes", minutes))


def age(abandoned_at: str | None, now: datetime) -> str:
    """How long ago the cart was abandoned, the locale's way: "3 days"."""
    if abandoned_at is None:
        return ""
    return str(format_timedelta(now - datetime.fromisoformat(abandoned_at), add_direction=False))


@blueprint.get("/carts")
@admin_page
def carts() -> tuple[str, int]:
    """Carts abandoned in the chosen period: the statistics, the days, and a page of carts."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    zone = ZoneInfo(account.time_zone)
    now = utcnow()
    today = now.astimezone(zone).date()
    period = chosen_period(today)
    state = request.args.get("state", "all")
    state = state if state in STATES else "all"
    common: dict[str, Any] = {
        "title": _("Carts"),
        "account": account,
        "delay": delay_words(account.abandonment_delay_minutes),
        "period": period,
        "quick": [
            (
                ngettext("Last %(num)d day", "Last %(num)d days", days),
                _period_url(today - timedelta(days=days - 1), today),
                period.first == today - timedelta(days=days - 1) and period.last == today,
            )
            for days in QUICK_DAYS
        ],
        "state": state,
        # The period form is a plain GET: an embedded page keeps Shopify's parameters in it.
        "kept": {k: request.args[k] for k in SHOPIFY_PARAMETERS if k in request.args}
        if g.viewer.embedded
        else {},
    }
    if period.errors:
        return render_template("admin/carts.html", **common, stats=None), 400
    start, end = day_start(period.first, zone), day_start(period.last + timedelta(days=1), zone)
    stats = cart_stats(db.session, account.id, start, end)
    days = cart_days(db.session, account.id, period.first, period.last, zone)
    cursor = request.args.get("cursor") or None
    try:
        page = list_carts(
            db.session, account.id, start, end, state=STATES[state], limit=PAGE_SIZE, cursor=cursor
        )
        stale = False
    except BadCursor:  # a link from before the list changed: start again from its first page
        page = list_carts(db.session, account.id, start, end, state=STATES[state], limit=PAGE_SIZE)
        stale = True
    titles = item_titles(db.session, [c["id"] for c in page["carts"]], TITLES_SHOWN)
    shown: dict[str, Any] = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    names = {"abandoned": _("Abandoned carts"), "recovered": _("Recovered carts")}
    return (
        render_template(
            "admin/carts.html",
            **common,
            stats=stats,
            rate=None if stats["recovery_rate"] is None else Decimal(str(stats["recovery_rate"])),
            days=days,
            names=names,
            first_day=day_label(shown["from"], long=True),
            last_day=day_label(shown["to"], long=True),
            day_rows=[
                [
                    _hook("day", d["day"], day_label(d["day"], long=True)),
                    _hook("day-abandoned", d["day"], number(d["abandoned"])),
                    _hook("day-recovered", d["day"], number(d["recovered"])),
                ]
                for d in days
            ],
            chart=bar_chart(
                days,
                [(key, f"bar-{key}", names[key]) for key in ("abandoned", "recovered")],
                title=_(
                    "Carts abandoned and recovered per day, %(first)s to %(last)s",
                    first=day_label(shown["from"], long=True),
                    last=day_label(shown["to"], long=True),
                ),
                label_x=day_label,
                label_y=number,
            )
            if stats["abandoned"]
            else None,
            any_carts=stats["abandoned"] > 0 or _has_abandoned(account.id),
            has_store=_has_store(account.id),
            carts=[
                {**c, "titles": titles.get(c["id"], []), "age": age(c["abandoned_at"], now)}
                for c in page["carts"]
            ],
            stale=stale,
            state_tabs=[
                (label, url_for("admin.carts", state=value, **shown), value == state)
                for value, label in (
                    ("all", _("All carts")),
                    ("open", _("Open carts")),
                    ("recovered", _("Recovered carts")),
                )
            ],
            first_url=url_for("admin.carts", state=state, **shown) if cursor and not stale else None,
            next_url=url_for("admin.carts", state=state, cursor=page["next_cursor"], **shown)
            if page["next_cursor"]
            else None,
        ),
        200,
    )


def _period_url(first: date, last: date) -> str:
    """The page for the days from `first` to `last` (`from` is a Python keyword: passed as a mapping)."""
    days: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
    return url_for("admin.carts", **days)


def _hook(name: str, key: str, text: str) -> Markup:
    """A table cell's text in a span that names what it shows, for scripts and tests to find."""
    return Markup('<span data-{}="{}">{}</span>').format(name, escape(key), text)


def _has_abandoned(account_id: int) -> bool:
    """Whether any cart of the account was ever abandoned."""
    return bool(
        db.session.scalar(
            select(
                exists()
                .where(Checkout.store_id == Store.id, Store.account_id == account_id)
                .where(Checkout.abandoned_at.is_not(None), Checkout.deleted_at.is_(None))
            )
        )
    )


def _has_store(account_id: int) -> bool:
    """Whether the account has connected any store."""
    return bool(db.session.scalar(select(exists().where(Store.account_id == account_id))))
