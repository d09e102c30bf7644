"""The admin's blueprint, what every page template is given, and the Shopify bounce page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, has_request_context, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect

from integration.web.context import current_settings

blueprint = Blueprint(
    "admin", __name__, url_prefix="/admin", static_folder="../static", static_url_path="/static"
)
csrf = CSRFProtect()

# The admin's navigation in its order: (endpoint, label, owners only); a page shows once registered.
NAVIGATION = (
    ("admin.contacts", _l("Contacts"), False),
    ("admin.contact_list", _l("Contact list"), False),
    ("admin.segments", _l("Segments"), False),
    ("admin.leaderboard", _l("Leaderboard"), False),
    ("admin.rfm", _l("RFM"), False),
    ("admin.carts", _l("Carts"), False),
    ("admin.campaigns", _l("Campaigns"), False),
    ("admin.syncs", _l("Syncs"), False),
    ("admin.setup", _l("Setup"), False),
    ("admin.users", _l("Users"), True),
)


def navigation() -> list[tuple[str, str, bool]]:
    """The navigation's (label, URL, current) for the viewer."""
    viewer = g.get("viewer")
    if viewer is None:
        return []  # signed out: the sign-in and invitation pages lead nowhere else
    items = []
    for endpoint, label, owners in NAVIGATION:
        if endpoint not in current_app.view_functions or (owners and not (viewer and viewer.manages)):
            continue
        url = url_for(endpoint)
        # A section's own pages below it (Setup's stores, keys…) keep it marked as the current one.
        current = request.path == url or (endpoint != "admin.contacts" and request.path.startswith(url + "/"))
        items.append((str(label), url, current))
    return items


# Shopify's parameters of an embedded page: its links carry them so the next page opens embedded.
SHOPIFY_PARAMETERS = ("embedded", "host", "shop", "locale")


@blueprint.url_defaults
def _stay_embedded(endpoint: str, values: dict[str, Any]) -> None:
    """Give every link to an admin page Shopify's parameters when the page making it is embedded."""
    viewer = g.get("viewer") if has_request_context() else None
    if viewer is None or not viewer.embedded or endpoint == "admin.static":
        return
    for name in SHOPIFY_PARAMETERS:
        if name not in values and name in request.args:
            values[name] = request.args[name]


@blueprint.context_processor
def _frame() -> dict[str, Any]:
    settings = current_settings()
    viewer = g.get("viewer")
    return {
        "viewer": viewer,
        "embedded": bool(viewer.embedded if viewer is not None else g.get("embedded_shop")),
        "shopify_api_key": settings.shopify_api_key or "",
        "app_bridge_src": settings.shopify_app_bridge_src,
        "polaris_src": settings.shopify_polaris_src,
        "page_exists": lambda endpoint: endpoint in current_app.view_functions,
        "navigation": navigation(),
    }


@blueprint.get("/bounce")
def bounce() -> str:
    """Load App Bridge alone: it reloads the page named by `shopify-reload` with a fresh session token."""
    return render_template("admin/bounce.html")
