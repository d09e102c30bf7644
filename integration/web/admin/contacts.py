"""The Contacts page: engaged, unengaged and blocked contacts, their change and their trend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import g, render_template, request, url_for
from flask_babel import gettext as _

from integration.analytics.history import trend
from integration.analytics.stats import SubscriptionFilter, cached_stats
from integration.store.models import Account
from integration.store.types import utcnow
from integration.web.admin.charts import line_chart
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import day_label, money, number, when
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
    stats = cached_stats(db.session, account.id, choice)
    points = trend(db.session, account.id, choice.statuses(), (utcnow() - timedelta(days=TREND_DAYS)).date())
    names = group_names()
    chart = (
        line_chart(
            points,
            [(group, f"line-{group}") for group in GROUPS],
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
        stats=stats,
        choice=choice,
        tabs=[
            (
                label,
                url_for("admin.contacts", subscription=value.value, **_shopify_query()),
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
        value_rows={
            group: [
                [
                    v["currency"],
                    money(v["aov"], v["currency"]),
                    money(v["acv"], v["currency"]),
                    number(v["ano"]),
                ]
                for v in stats["groups"][group]["value"]
            ]
            for group in GROUPS
        },
        trend_headers=[names[group] for group in GROUPS],
        trend_rows=[
            [day_label(p["day"], long=True), *(number(p[group]) for group in GROUPS)] for p in points
        ],
        points=points,
        chart=chart,
        reclassifying=stats["time_frame_days"] != account.engagement_window_days,
        next_snapshot=_next_snapshot(),
    )


@blueprint.get("/contacts/freshness")
@admin_page
def contacts_freshness() -> dict[str, Any]:
    """Whether the statistics reflect the account's time frame yet (the page polls this)."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    stats = cached_stats(db.session, account.id, subscription_choice())
    return {"ready": stats["time_frame_days"] == account.engagement_window_days}


def _shopify_query() -> dict[str, Any]:
    """Shopify's parameters of an embedded page, carried on its links so they stay embedded."""
    if not g.viewer.embedded:
        return {}
    return {k: v for k, v in request.args.items() if k in ("embedded", "host", "shop", "locale")}


def _next_snapshot() -> str:
    """When the first point of the trend will appear: the next daily count, soon after midnight UTC."""
    tomorrow = (utcnow() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    return when(tomorrow)
