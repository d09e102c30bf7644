"""One customer's profile: who they are, their orders and carts, what they received and what it led
to, their value, and the dialog that sends them a message.

The page reads the same domain functions as `GET /api/v1/contacts/<id>`, so the two agree. Sent
previews open in frames through short-lived signed links (`campaigns.preview_links`): a frame
cannot carry the embedded admin's session token.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from integration.audiences.segments import contact_segments
from integration.campaigns import preview_links
from integration.campaigns.sends import UnknownCampaign, preview_content
from integration.contacts.profile import DEFAULT_ORDERS, order_details, profile
from integration.contacts.timeline import timeline
from integration.store.models import Account, Sender, Store
from integration.store.types import utcnow
from integration.web.admin.contact_list import subscription_reason, why
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import money, on_day
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db

# What a sent preview may do in its frame: show itself, its images and styles, nothing else.
RECENT_ACTIVITY = 10  # entries on the profile; the activity page has the rest
PREVIEW_POLICY = "default-src 'none'; img-src * data:; style-src 'unsafe-inline' *"


@blueprint.get("/contacts/<int:contact_id>")
@admin_page
def contact(contact_id: int) -> str | tuple[str, int]:
    """The profile of one of the account's customers."""
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    every = request.args.get("orders") == "all"
    now = utcnow()
    found = profile(
        db.session, account.id, contact_id, orders_limit=None if every else DEFAULT_ORDERS, now=now
    )
    if found is None:
        return render_template("admin/customer_missing.html", title=_("Customer not found")), 404
    stores = {s.id: s for s in db.session.scalars(select(Store).where(Store.account_id == account.id))}
    details = order_details(db.session, account.id, contact_id, [o["id"] for o in found["orders"]])
    secret = current_settings().secret_key
    for send in found["campaigns"]:
        if send["preview"]:
            link = preview_links.PreviewLink(
                account.id, send["campaign"]["id"], send["preview"]["id"], g.viewer.shop
            )
            send["preview_url"] = url_for("admin.preview", token=preview_links.sign(secret, link))
    prefix = current_settings().tag_prefix.lower()
    recent = timeline(db.session, account.id, contact_id, limit=RECENT_ACTIVITY) or {
        "entries": [],
        "next_cursor": None,
    }
    refusals = refusal_texts()
    name = " ".join(p for p in (found["first_name"], found["last_name"]) if p)
    return render_template(
        "admin/customer.html",
        title=name or found["email"],
        contact=found,
        why=why(found),
        subscription_reason=subscription_reason(found["subscription"]["reason"]),
        details=details,
        every=every,
        all_orders_url=url_for("admin.contact", contact_id=contact_id, orders="all"),
        stores={i: s.name for i, s in stores.items()},
        tags=[(tag, tag.lower().startswith(prefix)) for tag in found["tags"] or []],
        segments=contact_segments(db.session, account.id, contact_id),
        cuts=cut_words(account.rfm_cuts or {}, found["rfm"]),
        has_sender=db.session.get(Sender, account.id) is not None,
        sender_url=url_for("admin.settings_page", _anchor="sender")
        if "admin.settings_page" in current_app.view_functions
        else None,
        refusals=refusals,
        activity=recent["entries"],
        activity_contact_id=contact_id,
        activity_more=recent["next_cursor"] is not None,
        # A plain string: the form's attribute escapes its quotes.
        refusals_json=json.dumps(refusals, ensure_ascii=False),
    )


def cut_words(cuts: dict[str, Any], rfm: dict[str, Any]) -> list[str]:
    """The value ranges behind the contact's R, F and M scores, in words (one value said once)."""
    scores = rfm.get("scores")
    if not scores:
        return []
    words = []
    for cut in cuts.get("r", []):
        if cut["score"] != scores["r"]:
            continue
        score, low, high = cut["score"], on_day(cut["last_order_from"]), on_day(cut["last_order_to"])
        if score == 5:  # the most recent: up to the last computation, so only its start matters
            words.append(_("R%(score)s: last order on or after %(day)s", score=score, day=low))
        elif low == high:
            words.append(_("R%(score)s: last order on %(day)s", score=score, day=low))
        else:
            words.append(
                _("R%(score)s: last order from %(low)s to %(high)s", score=score, low=low, high=high)
            )
    for cut in cuts.get("f", []):
        if cut["score"] != scores["f"]:
            continue
        score, low, high = cut["score"], cut["orders_from"], cut["orders_to"]
        words.append(
            ngettext("F%(score)s: %(num)d order", "F%(score)s: %(num)d orders", low, score=score)
            if low == high
            else _("F%(score)s: %(low)s to %(high)s orders", score=score, low=low, high=high)
        )
    for cut in cuts.get("m", []):
        if cut["score"] != scores["m"] or cut["currency"] != rfm.get("currency"):
            continue
        low, high = money(cut["spent_from"], cut["currency"]), money(cut["spent_to"], cut["currency"])
        words.append(
            _("M%(score)s: spent %(amount)s", score=cut["score"], amount=low)
            if low == high
            else _("M%(score)s: spent %(low)s to %(high)s", score=cut["score"], low=low, high=high)
        )
    return [str(w) for w in words]


def refusal_texts() -> dict[str, str]:
    """What the message dialog says when the API refuses a message, by the refusal's code."""
    return {
        "contact_blocked": _("No email goes to this customer: their address is blocked."),
        "contact_unsubscribed": _(
            "This customer unsubscribed. Tick the box if this is a message they need, not marketing."
        ),
        "recently_contacted": _(
            "This customer was contacted within the frequency cap. "
            "Tick “Send anyway” to send it all the same."
        ),
        "no_sender": _("No mail server is set up for sending yet."),
        "smtp_failed": _(
            "The mail server did not take the message. Check the sender settings and try again."
        ),
    }


@blueprint.get("/previews/<token>")
def preview(token: str) -> Response | tuple[str, int]:
    """Exactly what was sent, for a frame of the profile page: the HTML of an email, a letter's PDF."""
    try:
        link = preview_links.resolve(current_settings().secret_key, token)
        sent = preview_content(db.session, link.account_id, link.campaign_id, link.preview_id)
    except (preview_links.PreviewLinkInvalid, UnknownCampaign):
        answer = Response(_("This preview link is not valid any more. Reload the page."), 404)
        answer.mimetype = "text/plain"
        return answer
    answer = Response(sent.content, content_type=sent.content_type)
    # Only the admin's own pages may frame it: this site, and the shop's Shopify admin when embedded.
    ancestors = "'self'" + (f" https://{link.shop} https://admin.shopify.com" if link.shop else "")
    # A sandboxed document runs no script; Chromium shows no PDF in a sandbox, and a PDF runs none.
    sandbox = "" if sent.content_type.startswith("application/pdf") else "sandbox; "
    answer.headers["Content-Security-Policy"] = f"{sandbox}{PREVIEW_POLICY}; frame-ancestors {ancestors};"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    answer.headers["Referrer-Policy"] = "no-referrer"
    return answer
