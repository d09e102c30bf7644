"""The Campaigns pages: every email and letter with what it led to, and one campaign's versions,
sends, results and the orders that followed it.

The pages read the same domain functions as `GET /api/v1/campaigns` and
`GET /api/v1/campaigns/<id>/results`, so their numbers agree. Previews open in frames through the
profile's short-lived signed links (`campaigns.preview_links`, served by `admin.preview`).
"""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from integration.campaigns import preview_links
from integration.campaigns.recipients import campaign_orders, campaign_previews, campaign_sends
from integration.campaigns.results import campaign_results, list_campaigns
from integration.campaigns.sends import UnknownCampaign
from integration.keyset import BadCursor
from integration.store.models import Account
from integration.store.types import MAX_ID
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import money, number, when
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db

CAMPAIGNS_SHOWN = 20  # campaigns per page of the list
SENDS_SHOWN = 50  # sends per page of a campaign
ORDERS_SHOWN = 50  # credited orders per page of a campaign
STATUS_TIMES = {
    "queued": "queued_at",
    "sent": "sent_at",
    "delivered": "delivered_at",
    "returned": "returned_at",
    "failed": "failed_at",
}


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


def channel_name(channel: str) -> str:
    return str(_("Email") if channel == "email" else _("Letter"))


def status_names() -> dict[str, str]:
    return {
        "queued": _("Queued"),
        "sent": _("Sent"),
        "delivered": _("Delivered"),
        "returned": _("Returned"),
        "failed": _("Failed"),
    }


def revenue_cell(revenue: list[dict[str, str]]) -> Markup:
    """Revenue in each currency on its own line, never added across currencies."""
    if not revenue:
        return Markup('<span data-revenue="">–</span>')
    return Markup("<br>").join(
        Markup('<span data-revenue="{}" data-amount="{}">{}</span>').format(
            r["currency"], r["amount"], money(r["amount"], r["currency"])
        )
        for r in revenue
    )


def median_words(days: float | None) -> str:
    if days is None:
        return "–"
    if days == int(days):
        return str(ngettext("%(num)d day", "%(num)d days", int(days)))
    return str(_("%(num)s days", num=number(str(days))))


def _count(value: int, hook: str) -> Markup:
    return Markup('<span data-{}="{}">{}</span>').format(hook, value, number(value))


def _sends_cell(result: dict[str, Any]) -> Markup:
    """All sends, and beneath them how many are at each status (the empty ones left out)."""
    names = status_names()
    parts = [
        Markup('<span data-status="{}" data-count="{}">{}</span>').format(
            status, count, _("%(status)s: %(num)s", status=names[status], num=number(count))
        )
        for status, count in result["by_status"].items()
        if count
    ]
    total = _count(result["sends"], "sends")
    return total + (
        Markup('<br><span class="muted">{}</span>').format(Markup("<br>").join(parts)) if parts else ""
    )


@blueprint.get("/campaigns", endpoint="campaigns")  # the module's name, not the domain's
@admin_page
def campaigns_page() -> str:
    """The account's campaigns, newest first, each with its sends, marks, orders and revenue."""
    account = _account()
    cursor = request.args.get("cursor") or None
    try:
        found = list_campaigns(db.session, account.id, limit=CAMPAIGNS_SHOWN, cursor=cursor, median_days=True)
    except BadCursor:  # a hand-edited link: start again at the first page
        cursor = None
        found = list_campaigns(db.session, account.id, limit=CAMPAIGNS_SHOWN, median_days=True)
    rows = [
        [
            Markup('<a href="{}" data-campaign="{}">{}</a>').format(
                url_for("admin.campaign", campaign_id=c["id"]), c["id"], c["name"]
            ),
            Markup('<span data-channel="{}">{}</span>').format(c["channel"], channel_name(c["channel"])),
            _sends_cell(c),
            _count(c["opened"], "opened"),
            _count(c["clicked"], "clicked"),
            _count(c["scanned"], "scanned"),
            _count(c["ordered"], "ordered"),
            revenue_cell(c["revenue"]),
            Markup('<span data-median="{}">{}</span>').format(
                "" if c["median_days_to_order"] is None else c["median_days_to_order"],
                median_words(c["median_days_to_order"]),
            ),
        ]
        for c in found["campaigns"]
    ]
    return render_template(
        "admin/campaigns.html",
        title=_("Campaigns"),
        rows=rows,
        window=account.attribution_window_days,
        next_url=url_for("admin.campaigns", cursor=found["next_cursor"]) if found["next_cursor"] else None,
        first_url=url_for("admin.campaigns") if cursor else None,
    )


def _after() -> int:
    value = request.args.get("after", "")
    return int(value) if value.isdigit() and int(value) <= MAX_ID else 0


def _contact_link(contact: dict[str, Any]) -> Markup:
    return Markup('<a href="{}" data-contact="{}">{}</a>').format(
        url_for("admin.contact", contact_id=contact["id"]), contact["id"], contact["email"] or _("(no email)")
    )


def _mark(value: str | None, hook: str) -> Markup:
    return Markup('<span data-{}="{}">{}</span>').format(
        hook, value or "", when(value, "short") if value else "–"
    )


def _send_rows(sends: list[dict[str, Any]]) -> list[list[Any]]:
    names = status_names()
    rows = []
    for s in sends:
        at = s[STATUS_TIMES[s["status"]]]
        status = Markup('<span data-send-status="{}">{}</span>').format(s["status"], names[s["status"]])
        if at:
            status += Markup('<br><span class="muted" data-status-at="{}">{}</span>').format(
                at, when(at, "short")
            )
        if s["status"] not in ("sent", "queued") and s["sent_at"]:
            status += Markup('<br><span class="muted">{}</span>').format(
                _("sent %(time)s", time=when(s["sent_at"], "short"))
            )
        a = s["attribution"]
        rows.append(
            [
                _contact_link(s["contact"]),
                status,
                _mark(s["opened_at"], "opened-at"),
                _mark(s["clicked_at"], "clicked-at"),
                _mark(s["scanned_at"], "scanned-at"),
                Markup('<span data-send-order="{}">{}</span>').format(
                    a["order_id"],
                    ngettext(
                        "%(total)s, %(num)d day later",
                        "%(total)s, %(num)d days later",
                        a["days"],
                        total=money(a["total_price"], a["currency"]),
                    ),
                )
                if a
                else "–",
            ]
        )
    return rows


def _order_rows(orders: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            _contact_link(o["contact"]),
            Markup('<span data-order="{}">{}</span>').format(o["order"]["id"], o["order"]["name"]),
            Markup('<span data-total="{}" data-currency="{}">{}</span>').format(
                o["order"]["total_price"],
                o["order"]["currency"],
                money(o["order"]["total_price"], o["order"]["currency"]),
            ),
            when(o["order"]["ordered_at"], "short"),
            Markup('<span data-days="{}">{}</span>').format(o["days"], number(o["days"])),
        ]
        for o in orders
    ]


def _previews(account_id: int, campaign: dict[str, Any]) -> list[dict[str, Any]]:
    """The campaign's versions, newest first, each with a signed link for its frame."""
    secret = current_settings().secret_key
    versions = campaign_previews(db.session, account_id, campaign["id"])
    for n, version in enumerate(versions, start=1):
        link = preview_links.PreviewLink(account_id, campaign["id"], version["id"], g.viewer.shop)
        version["number"] = n
        version["url"] = url_for("admin.preview", token=preview_links.sign(secret, link))
        version["pdf"] = version["content_type"].startswith("application/pdf")
    return versions[::-1]


def _list_url(campaign_id: int, anchor: str, param: str, value: Any, kept: dict[str, Any]) -> str:
    """A page of one of the campaign's lists (`param=value`, or its first page when `value` is None),
    keeping where the other list is."""
    here = {param: value} if value is not None else {}
    return url_for("admin.campaign", campaign_id=campaign_id, **here, **kept, _anchor=anchor)


@blueprint.get("/campaigns/<int:campaign_id>")
@admin_page
def campaign(campaign_id: int) -> str | tuple[str, int]:
    """A campaign: its results within the attribution window, its versions, sends and the orders after it."""
    account = _account()
    try:
        results = campaign_results(db.session, account.id, campaign_id)
    except UnknownCampaign:
        return render_template("admin/campaign_missing.html", title=_("Campaign not found")), 404
    after = _after()
    sends = campaign_sends(db.session, account.id, campaign_id, limit=SENDS_SHOWN, after=after)
    cursor = request.args.get("orders") or None
    try:
        orders = campaign_orders(db.session, account.id, campaign_id, limit=ORDERS_SHOWN, cursor=cursor)
    except BadCursor:
        cursor = None
        orders = campaign_orders(db.session, account.id, campaign_id, limit=ORDERS_SHOWN)
    kept_orders: dict[str, Any] = {"orders": cursor} if cursor else {}
    kept_after: dict[str, Any] = {"after": after} if after else {}
    here = results["campaign"]
    return render_template(
        "admin/campaign.html",
        title=here["name"],
        campaign=here,
        channel=channel_name(here["channel"]),
        results=results,
        statuses=status_names(),
        revenue=revenue_cell(results["revenue"]),
        median=median_words(results["median_days_to_order"]),
        previews=_previews(account.id, here),
        send_rows=_send_rows(sends["sends"]),
        sends_next_url=_list_url(campaign_id, "sends", "after", sends["next_after"], kept_orders)
        if sends["next_after"]
        else None,
        sends_first_url=_list_url(campaign_id, "sends", "after", None, kept_orders) if after else None,
        order_rows=_order_rows(orders["orders"]),
        orders_next_url=_list_url(campaign_id, "orders", "orders", orders["next_cursor"], kept_after)
        if orders["next_cursor"]
        else None,
        orders_first_url=_list_url(campaign_id, "orders", "orders", None, kept_after) if cursor else None,
        list_url=url_for("admin.campaigns"),
    )
