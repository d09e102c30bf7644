"""A contact's activity page: the timeline in words, newest first, in keyset pages.

The list itself is the partial `admin/_activity.html`, which any page of the admin can include
with `activity` set to timeline entries and `activity_contact_id` to their contact (the customer
profile shows the first page); the words come from `describe`, given to every admin template as
`activity_entry`.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from integration.contacts.timeline import timeline
from integration.keyset import BadCursor
from integration.store.db import account_row
from integration.store.models import Account, Contact
from integration.web.admin.contact_list import interaction_names, subscription_reason
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import money
from integration.web.admin.viewer import admin_page
from integration.web.context import db

PAGE_SIZE = 50

# Badge tones by kind: money in is good news, money back or mail back is a warning.
TONES = {
    "order_placed": "success",
    "cart_recovered": "success",
    "order_cancelled": "warning",
    "order_refunded": "warning",
    "cart_abandoned": "warning",
    "campaign_returned": "warning",
    "campaign_failed": "critical",
}


@blueprint.get("/contacts/<int:contact_id>/activity")
@admin_page
def contact_activity(contact_id: int) -> str:
    """A page of the contact's activity, newest first, with a link to older activity."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    contact = account_row(db.session, Contact, contact_id, account.id)
    cursor = request.args.get("cursor") or None
    try:
        page = timeline(db.session, account.id, contact_id, limit=PAGE_SIZE, cursor=cursor)
        stale = False
    except BadCursor:  # a link from another list or a damaged one: start again from the newest
        page = timeline(db.session, account.id, contact_id, limit=PAGE_SIZE)
        stale = True
    if page is None or contact is None:
        abort(404)
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part) or contact.email
    profile_url = _link("admin.contact", contact_id=contact.id)
    return render_template(
        "admin/activity.html",
        title=_("Activity of %(name)s", name=name),
        contact=contact,
        activity=page["entries"],
        activity_contact_id=contact.id,
        stale=stale,
        back=(_("Back to the contact"), profile_url)
        if profile_url
        else (_("Back to the contact list"), url_for("admin.contact_list")),
        older_url=url_for("admin.contact_activity", contact_id=contact.id, cursor=page["next_cursor"])
        if page["next_cursor"]
        else None,
        newest_url=url_for("admin.contact_activity", contact_id=contact.id) if cursor else None,
    )


@blueprint.context_processor
def _activity_words() -> dict[str, Any]:
    return {"activity_entry": describe}


def describe(entry: dict[str, Any], contact_id: int | None = None) -> dict[str, Any]:
    """An entry of the timeline as a page shows it: its kind's name, a badge tone, a sentence and a link."""
    kind = entry["kind"]
    return {
        "label": kind_names().get(kind, kind),
        "tone": TONES.get(kind, "neutral"),
        "text": str(_sentence(entry)),
        "href": _target(entry, contact_id),
    }


def kind_names() -> dict[str, str]:
    """What each kind of entry is called on its badge."""
    return {
        "order_placed": _("Order"),
        "order_cancelled": _("Cancelled order"),
        "order_refunded": _("Refund"),
        "cart_abandoned": _("Abandoned cart"),
        "cart_recovered": _("Recovered cart"),
        "campaign_sent": _("Sent"),
        "campaign_delivered": _("Delivered"),
        "campaign_returned": _("Returned"),
        "campaign_failed": _("Not sent"),
        "email_open": _("Open"),
        "email_click": _("Click"),
        "qr_scan": _("QR scan"),
        "product_view": _("Product view"),
        "add_to_cart": _("Add to cart"),
        "subscription_changed": _("Subscription"),
        "engagement_changed": _("Engagement"),
        "segment_entered": _("Joined segment"),
        "segment_left": _("Left segment"),
    }


def _sentence(entry: dict[str, Any]) -> Any:
    """What happened, in a sentence of the page's language."""
    kind, order, campaign = entry["kind"], entry["order_name"], entry["campaign_name"]
    amount = money(entry["amount"], entry["currency"]) if entry["amount"] is not None else ""
    channel = {"email": _("email"), "letter": _("letter")}.get(entry["channel"] or "", "")
    if kind == "order_placed":
        return (
            _("Ordered %(order)s for %(amount)s", order=order, amount=amount)
            if order
            else _("Ordered for %(amount)s", amount=amount)
        )
    if kind == "order_cancelled":
        return _("Order %(order)s was cancelled", order=order) if order else _("An order was cancelled")
    if kind == "order_refunded":
        return (
            _("Refunded %(amount)s of order %(order)s", amount=amount, order=order)
            if order
            else _("Refunded %(amount)s", amount=amount)
        )
    if kind == "cart_abandoned":
        return _("Left a cart of %(amount)s", amount=amount)
    if kind == "cart_recovered":
        return _("Came back and ordered the cart of %(amount)s", amount=amount)
    sends = {
        "campaign_sent": _("“%(campaign)s” was sent (%(channel)s)", campaign=campaign, channel=channel),
        "campaign_delivered": _(
            "“%(campaign)s” was delivered (%(channel)s)", campaign=campaign, channel=channel
        ),
        "campaign_returned": _(
            "“%(campaign)s” came back undelivered (%(channel)s)", campaign=campaign, channel=channel
        ),
        "campaign_failed": _(
            "“%(campaign)s” could not be sent (%(channel)s)", campaign=campaign, channel=channel
        ),
    }
    if kind in sends:
        return sends[kind]
    if kind in ("email_open", "email_click", "qr_scan") and campaign:
        return {
            "email_open": _("Opened “%(campaign)s”", campaign=campaign),
            "email_click": _("Clicked a link in “%(campaign)s”", campaign=campaign),
            "qr_scan": _("Scanned the QR code of “%(campaign)s”", campaign=campaign),
        }[kind]
    if kind in ("product_view", "add_to_cart") and entry["product_id"]:
        if kind == "product_view":
            return _("Viewed product %(product)s", product=entry["product_id"])
        return _("Added product %(product)s to the cart", product=entry["product_id"])
    if kind == "subscription_changed":
        statuses = {"subscribed": _("Subscribed"), "unknown": _("Unknown"), "unsubscribed": _("Unsubscribed")}
        text = _(
            "Subscription changed from %(before)s to %(after)s",
            before=statuses.get(entry["from"] or "", _("Unknown")),
            after=statuses.get(entry["to"] or "", _("Unknown")),
        )
        return _because(text, subscription_reason(entry["reason"]))
    if kind == "engagement_changed":
        groups = {"engaged": _("Engaged"), "unengaged": _("Unengaged"), "blocked": _("Blocked")}
        text = _(
            "Moved from %(before)s to %(after)s",
            before=groups.get(entry["from"] or "", _("Not classified yet")),
            after=groups.get(entry["to"] or "", _("Not classified yet")),
        )
        return _because(text, _engagement_reasons().get(entry["reason"] or ""))
    if kind in ("segment_entered", "segment_left"):
        segment = entry["segment_name"]
        text = (
            _("Joined the segment “%(segment)s”", segment=segment)
            if kind == "segment_entered"
            else _("Left the segment “%(segment)s”", segment=segment)
        )
        return _because(text, _segment_reasons().get(entry["reason"] or ""))
    return interaction_names().get(kind, kind_names().get(kind, kind))


def _because(text: str, reason: str | None) -> Any:
    return _("%(change)s: %(reason)s", change=text, reason=reason) if reason else text


def _engagement_reasons() -> dict[str, str]:
    return {
        **{kind: name.lower() for kind, name in interaction_names().items()},
        "hard_bounce": _("hard bounce"),
        "spam_complaint": _("spam complaint"),
        "no_interaction": _("no recent interaction"),
        "redacted": _("personal data erased"),
    }


def _segment_reasons() -> dict[str, str]:
    return {
        "created": _("the segment was created"),
        "edited": _("the segment was edited"),
        "data": _("the contact's data changed"),
    }


def _target(entry: dict[str, Any], contact_id: int | None) -> str | None:
    """Where the entry leads, once the page for it exists: its order, campaign or segment."""
    if entry["order_id"] is not None:
        return _link("admin.contact_order", contact_id=contact_id, order_id=entry["order_id"])
    if entry["campaign_id"] is not None:
        return _link("admin.campaign", campaign_id=entry["campaign_id"])
    if entry["segment_id"] is not None:
        return _link("admin.segment", segment_id=entry["segment_id"])
    return None


def _link(endpoint: str, **values: Any) -> str | None:
    """The URL of another page of the admin, or None while that page does not exist (yet)."""
    if endpoint not in current_app.view_functions or None in values.values():
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:  # the page exists but takes other arguments: no link rather than a broken one
        return None
