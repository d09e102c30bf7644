"""The Contacts page: engaged, unengaged and blocked contacts, their change and their trend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import exists, select

from integration.analytics.history import WINDOW, next_snapshot_at, trend, trend_start
from integration.analytics.stats import SubscriptionFilter, cached_stats
from integration.store.models import Account, Contact, Store
from integration.store.types import utcnow
from integration.web.admin.charts import line_chart
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import day_label, decimals, money, number, when
from integration.web.admin.viewer import admin_page
from integration.web.context import db

TREND_DAYS = 90
GROUPS = ("engaged", "unengaged", "blocked")


def subscription_choice() -> SubscriptionFilter:
    """The page's subscription tab (both subscribed and unknown unless another is chosen)."""
    try:
        return SubscriptionFilter(request.args.get("subscription", ""))
    except ValueError:
        return SubscriptionFilter.SUBSCRIBED_UNKNOWN


def group_names() -> dict[str, str]:
    """The groups' names in the page's language."""
    return {"engaged": _("Engaged"), "unengaged": _("Unengaged"), "blocked": _("Blocked")}


@blueprint.get("/")
@admin_page
def contacts() -> str:
    """The account's contacts by engagement under the chosen subscription filter."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    choice = subscription_choice()
    now = utcnow()
    if not _has_contacts(account.id):
        return render_template(
            "admin/contacts.html",
            title=_("Contacts"),
            account=account,
            empty=True,
            has_store=_has_store(account.id),
        )
    stats = cached_stats(db.session, account.id, choice)
    points = trend(db.session, account.id, choice.statuses(), trend_start(TREND_DAYS, now))
    names = group_names()
    chart = (
        line_chart(
            points,
            [(group, f"line-{group}", names[group]) for group in GROUPS],
            title=_("Contacts by group over the last %(days)s days", days=TREND_DAYS),
            label_x=day_label,
            label_y=number,
        )
        if points
        else None
    )
    return render_template(
        "admin/contacts.html",
        title=_("Contacts"),
        account=account,
        empty=False,
        stats=stats,
        choice=choice,
        tabs=[
            (
                label,
                url_for("admin.contacts", subscription=value.value),
                value is choice,
            )
            for value, label in (
                (SubscriptionFilter.SUBSCRIBED, _("Subscribed")),
                (SubscriptionFilter.UNKNOWN, _("Unknown")),
                (SubscriptionFilter.SUBSCRIBED_UNKNOWN, _("Both")),
            )
        ],
        names=names,
        groups=GROUPS,
        value_tables={group: _value_table(stats["groups"][group]["value"]) for group in GROUPS},
        trend_headers=[names[group] for group in GROUPS],
        trend_rows=[
            [
                _hook("day", p["day"], day_label(p["day"], long=True)),
                *(_hook(group, p["day"], number(p[group])) for group in GROUPS),
            ]
            for p in points
        ],
        points=points,
        chart=chart,
        full_window=_full_window(stats, now),
        reclassifying=stats["time_frame_days"] != account.engagement_window_days,
        next_snapshot=when(next_snapshot_at(db.session, account.id, now)),
    )


@blueprint.get("/contacts/freshness")
@admin_page
def contacts_freshness() -> dict[str, Any]:
    """Whether the statistics reflect the account's time frame yet (the page polls this)."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    stats = cached_stats(db.session, account.id, subscription_choice())
    return {"ready": stats["time_frame_days"] == account.engagement_window_days}


def _value_table(values: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """A card's order values as a table: a row per measure, a column per currency (a card is narrow,
    and a merchant sells in few currencies)."""
    headers = [_("Averages"), *(v["currency"] for v in values)]
    rows = [
        [
            _("Average order value"),
            *(_hook("aov", v["currency"], money(v["aov"], v["currency"])) for v in values),
        ],
        [
            _("Average customer value"),
            *(_hook("acv", v["currency"], money(v["acv"], v["currency"])) for v in values),
        ],
        [_("Average number of orders"), *(_hook("ano", v["currency"], decimals(v["ano"])) for v in values)],
    ]
    return headers, rows


def _full_window(stats: dict[str, Any], now: datetime) -> bool:
    """Whether the change is against a count of 30 days ago (else against a more recent first one)."""
    change = stats["groups"]["engaged"]["change_30d"]
    return bool(change) and datetime.fromisoformat(change["since"]).date() <= (now - WINDOW).date()


def _hook(name: str, key: str, text: str) -> Markup:
    """A table cell's text in a span that names what it shows, for scripts and tests to find."""
    return Markup('<span data-{}="{}">{}</span>').format(name, escape(key), text)


def _has_contacts(account_id: int) -> bool:
    """Whether the account has any contact that is not deleted."""
    return bool(
        db.session.scalar(
            select(exists().where(Contact.account_id == account_id, Contact.deleted_at.is_(None)))
        )
    )


def _has_store(account_id: int) -> bool:
    """Whether the account has connected any store."""
    return bool(db.session.scalar(select(exists().where(Store.account_id == account_id))))
