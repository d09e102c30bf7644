"""The Setup pages: stores, CSV imports, API keys, email tools and settings, without a command line.

The pages only show; every change goes by `fetch` to the JSON API (`/api/v1/stores`, `/keys`,
`/sources`, `/settings`, `/stores/<id>/imports`), as the CLI's commands call the same domain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from werkzeug.wrappers import Response

from connectors.shopify.client import valid_shop
from integration import accounts
from integration.campaigns.messages import SECURITY, describe_sender
from integration.ingest.backfill import store_backfill
from integration.ingest.storefront import SOURCE as STOREFRONT_SOURCE
from integration.store.models import (
    Account,
    Contact,
    EmailTool,
    InteractionEvent,
    Platform,
    Sender,
    Store,
    StoreState,
    Visitor,
)
from integration.store.types import utcnow
from integration.web.admin.frame import blueprint
from integration.web.admin.i18n import number, when
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db

# The sub-pages of Setup in their order: (endpoint, label, owners only).
PAGES = (
    ("admin.setup", _l("Overview"), False),
    ("admin.stores", _l("Stores"), False),
    ("admin.storefront", _l("Storefront tracking"), False),
    ("admin.keys", _l("API keys"), True),
    ("admin.email_tools", _l("Email tools"), False),
    ("admin.settings_page", _l("Settings"), False),
)

# Offered in the time zone list; any other IANA name can be typed in.
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Warsaw",
    "Europe/Prague",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Athens",
    "Europe/Kyiv",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
)


def subnav() -> list[tuple[str, str, bool]]:
    """Setup's second-level navigation: (label, URL, current)."""
    return [
        (str(label), url_for(endpoint), request.endpoint == endpoint)
        for endpoint, label, owners in PAGES
        if not owners or g.viewer.manages
    ]


def show(template: str, title: str, **context: Any) -> str:
    """Render a Setup page with its navigation."""
    return render_template(f"admin/{template}", title=title, subnav=subnav(), **context)


def _account() -> Account:
    account = db.session.get(Account, g.viewer.account_id)
    assert account is not None  # noqa: S101 - the viewer's account exists
    g.time_zone = account.time_zone
    return account


@blueprint.get("/setup")
@admin_page
def setup() -> str:
    """The steps of setting up and whether each is done."""
    account = _account()
    stores = accounts.account_stores(db.session, account.id)
    has_contacts = bool(db.session.scalar(select(exists().where(Contact.account_id == account.id))))
    steps: list[tuple[str, str, bool | None, str]] = [
        ("store", _("Connect a store"), any(s.state is StoreState.CONNECTED for s in stores), "admin.stores"),
        ("contacts", _("Import your contacts"), has_contacts, "admin.stores"),
        (
            "email",
            _("Connect your email tool"),
            bool(accounts.email_sources(db.session, account.id)),
            "admin.email_tools",
        ),
    ]
    if g.viewer.manages:
        live = any(k.revoked_at is None for k in accounts.api_keys(db.session, account.id))
        steps.append(("key", _("Make an API key"), live, "admin.keys"))
    steps.append(("settings", _("Check the settings"), None, "admin.settings_page"))
    return show("setup.html", _("Setup"), steps=[(i, t, d, url_for(e)) for i, t, d, e in steps])


# Each platform's name as the stores list shows it (a proper name: not translated).
PLATFORM_NAMES = {
    Platform.SHOPIFY: "Shopify",
    Platform.CSV: "CSV",
    Platform.API: "API",
    Platform.WOOCOMMERCE: "WooCommerce",
    Platform.BILLBEE: "Billbee",
}


@blueprint.get("/setup/stores")
@admin_page
def stores() -> str:
    """The account's stores, and the ways to add one."""
    account = _account()
    rows, backfills, csv_stores = [], [], []
    for store in accounts.account_stores(db.session, account.id):
        connected = store.state is StoreState.CONNECTED
        since = store.connected_at if connected else store.disconnected_at
        state = _("Connected") if connected else _("Disconnected")
        rows.append(
            [store.name, PLATFORM_NAMES[store.platform], store.currency, store.time_zone, state, when(since)]
        )
        if store.platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE, Platform.BILLBEE):
            stages = _backfill_rows(store)
            if stages or store.credentials is not None:  # a store fed by deliveries alone has none
                backfills.append((store, stages))
        elif store.platform is Platform.CSV:
            csv_stores.append((store, url_for("admin.store_import", store_id=store.id)))
    settings = current_settings()
    return show(
        "setup_stores.html",
        _("Stores"),
        rows=rows,
        backfills=backfills,
        csv_stores=csv_stores,
        zones=COMMON_ZONES,
        account_zone=account.time_zone,
        shopify_ready=bool(settings.shopify_api_key),
        shop_error=request.args.get("shop_error"),
        woo_error=WOO_ERRORS.get(request.args.get("woo_error", "")),
        woo_connected=_connected_woo(account.id, request.args.get("woo_connected", "")),
        # WooCommerce posts the keys only to an https callback.
        woo_authorize=settings.app_url.startswith("https://"),
        billbee_ready=bool(settings.billbee_api_key),
        billbee_refusals=json.dumps(
            {
                "billbee_unreachable": _("Billbee did not answer. Try again in a minute."),
                "billbee_taken": _("This Billbee login is connected to another storepulse account."),
                "billbee_not_set_up": _("This storepulse server is not set up for Billbee."),
            }
        ),
        woo_refusals=json.dumps(
            {
                "shop_unreachable": _(
                    "The shop did not answer. Check the address and try again in a minute."
                ),
                "shop_taken": _("This shop is connected to another storepulse account."),
            }
        ),
    )


def _connected_woo(account_id: int, store_id: str) -> Store | None:
    store = db.session.get(Store, int(store_id)) if store_id.isdigit() and len(store_id) < 19 else None
    return store if store is not None and store.account_id == account_id else None


# Why connecting a WooCommerce shop did not finish (the `woo_error` the flow comes back with).
WOO_ERRORS = {
    "address": _l("That is not a shop address. It looks like https://your-shop.com."),
    "unavailable": _l("storepulse cannot start connecting right now. Try again in a minute."),
    "refused": _l("The shop did not give storepulse access. Connect again and approve it in WordPress."),
    "no_keys": _l(
        "The shop approved storepulse but its keys have not arrived. The shop may not reach this "
        "server: enter the keys by hand below."
    ),
}


def _backfill_rows(store: Store) -> list[list[str]]:
    names = {
        "customers": _("Customers"),
        "orders": _("Orders"),
        "checkouts": _("Checkouts"),
        "updates": _("Changed orders (every few minutes)"),
    }
    statuses = {
        "pending": _("Waiting"),
        "starting": _("Starting"),
        "running": _("Running in Shopify"),
        "importing": _("Importing"),
        "completed": _("Done"),
        "failed": _("Failed"),
    }

    def status(stage: dict[str, Any]) -> str:
        if stage["pages"] and stage["status"] in ("running", "importing"):  # read page by page
            page = min(int(stage["page"] or 1), int(stage["pages"]))
            return str(
                _("Reading page %(page)s of %(pages)s", page=number(page), pages=number(stage["pages"]))
            )
        return str(statuses.get(stage["status"], stage["status"]))

    return [
        [
            names.get(stage["stage"], stage["stage"]),
            status(stage),
            number(stage["records"]),
            number(stage["invalid"]),
            stage["error"] or "",
        ]
        for stage in store_backfill(db.session, store)["backfill"]
    ]


@blueprint.get("/setup/stores/shopify")
@admin_page
def shopify_install() -> Response:
    """Send the merchant to their shop to install the app (Shopify then connects the store)."""
    # Not `shop`: that parameter marks a page load from inside the Shopify admin.
    shop = request.args.get("shop_domain", "").strip().lower().removeprefix("https://").rstrip("/")
    if "." not in shop:
        shop = f"{shop}.myshopify.com"
    client_id = current_settings().shopify_api_key
    if not client_id or not valid_shop(shop):
        return redirect(url_for("admin.stores", shop_error="1") + "#connect-shopify")
    # Shopify-managed installation: Shopify installs the app and opens it; no code grant runs here.
    return redirect(f"https://{shop}/admin/oauth/install?" + urlencode({"client_id": client_id}))


@dataclass(frozen=True)
class Tracking:
    """A connected store's storefront tracking as its Setup card shows it."""

    store: Store
    last_event_at: datetime | None
    visitors: int  # seen in the last 24 hours
    known: int  # of them, tied to a contact
    counted: int  # product views and add-to-carts counted on contacts in the last 24 hours
    snippet: str | None  # the code to paste (stores other than Shopify's)


def snippet_code(collect_url: str, script_url: str, public_key: str) -> str:
    """The tracking snippet's loader with the store's key, as a merchant pastes it into every page."""
    config = json.dumps({"key": public_key, "url": collect_url})
    return "\n".join(
        (
            "<script>",
            "  window.storepulse = window.storepulse || function () {"
            " (storepulse.q = storepulse.q || []).push(arguments); };",
            f'  storepulse("init", {config});',
            '  storepulse("page");',
            "  // " + _("When your consent banner allows analytics and marketing:"),
            '  // storepulse("consent", true);',
            "</script>",
            f'<script async src="{script_url}"></script>',
        )
    )


@blueprint.get("/setup/storefront")
@admin_page
def storefront() -> str:
    """Storefront tracking for each connected store: the Shopify pixel's state, or the snippet to
    paste with the store's public key and the shop addresses it may post from."""
    account = _account()
    base = current_settings().app_url
    since = utcnow() - timedelta(days=1)
    cards = []
    for store in accounts.account_stores(db.session, account.id):
        if store.state is not StoreState.CONNECTED:
            continue
        seen = select(func.count()).where(Visitor.store_id == store.id, Visitor.last_seen_at >= since)
        cards.append(
            Tracking(
                store=store,
                last_event_at=db.session.scalar(
                    select(func.max(Visitor.last_seen_at)).where(Visitor.store_id == store.id)
                ),
                visitors=db.session.scalar(seen) or 0,
                known=db.session.scalar(seen.where(Visitor.contact_id.is_not(None))) or 0,
                counted=db.session.scalar(
                    select(func.count()).where(
                        InteractionEvent.account_id == account.id,
                        InteractionEvent.occurred_at >= since,
                        InteractionEvent.source == STOREFRONT_SOURCE,
                        InteractionEvent.store_id == store.id,
                    )
                )
                or 0,
                snippet=None
                if store.platform is Platform.SHOPIFY
                else snippet_code(f"{base}/collect", f"{base}/storepulse.js", store.public_key),
            )
        )
    return show("setup_storefront.html", _("Storefront tracking"), cards=cards)


@blueprint.get("/setup/keys")
@admin_page
def keys() -> str | tuple[str, int]:
    """The account's API keys: make one (shown once) or revoke one; owners only."""
    _account()
    if not g.viewer.manages:
        return show("setup_forbidden.html", _("API keys")), 403
    rows = [
        (
            key,
            [
                key.name,
                key.prefix + "…",
                when(key.created_at),
                when(key.last_used_at) if key.last_used_at else _("Never"),
                when(key.revoked_at) if key.revoked_at else "",
            ],
        )
        for key in accounts.api_keys(db.session, g.viewer.account_id)
    ]
    return show("setup_keys.html", _("API keys"), rows=rows)


@blueprint.get("/setup/email")
@admin_page
def email_tools() -> str:
    """Connect SendGrid or Mailchimp: the webhook URL to paste there, SendGrid's verification key."""
    _account()
    base = current_settings().app_url
    tools = [(EmailTool.SENDGRID.value, "SendGrid"), (EmailTool.MAILCHIMP.value, "Mailchimp")]
    sources = [
        (source, accounts.describe_email_source(source))
        for source in accounts.email_sources(db.session, g.viewer.account_id)
    ]
    return show(
        "setup_email.html",
        _("Email tools"),
        sources=[(s, d, base + d["path"]) for s, d in sources],
        tools=tools,
        sendgrid=EmailTool.SENDGRID,
        tool_names=dict(tools),
    )


@blueprint.get("/setup/settings")
@admin_page
def settings_page() -> str:
    """The account's settings: the time frame, the cart and campaign windows, the sender."""
    account = _account()
    zones = COMMON_ZONES if account.time_zone in COMMON_ZONES else (account.time_zone, *COMMON_ZONES)
    return show(
        "setup_settings.html",
        _("Settings"),
        account=account,
        zones=zones,
        sender=describe_sender(db.session.get(Sender, account.id)),
        security=SECURITY,
        contacts_url=url_for("admin.contacts"),
    )
