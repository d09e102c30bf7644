"""The merchant's admin: server-rendered pages, inside the Shopify admin or on their own.

Every page is a view of the `admin` blueprint (`frame.py`) guarded by `viewer.admin_page`; the
templates render one set of macros as Polaris web components when embedded and as plain HTML
otherwise. Changes go to the JSON API by `fetch`.
"""

from __future__ import annotations

from flask import Flask

from integration.web.admin import (
    activity,
    backfill,
    campaigns,
    carts,
    contact_list,
    contacts,
    customer,
    i18n,
    imports,
    leaderboard,
    notifications,
    rfm,
    segment_editor,
    segments,
    setup,
    signin,
    syncs,
    users,
    viewer,
    woocommerce,
)
from integration.web.admin.frame import blueprint, csrf
from integration.web.context import settings_of

# Each adds its routes to the blueprint as it is imported.
PAGE_MODULES = (
    activity,
    backfill,
    campaigns,
    carts,
    contact_list,
    contacts,
    customer,
    imports,
    leaderboard,
    notifications,
    rfm,
    segment_editor,
    segments,
    setup,
    signin,
    syncs,
    users,
    woocommerce,
)


def init_app(app: Flask) -> None:
    """Register the admin's pages, languages, sign-in sessions and CSRF protection on `app`."""
    secure = settings_of(app).app_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        # Checked where a cookie session changes something: the sign-in forms and the JSON API
        # called from a signed-in page. Bearer requests (API keys, session tokens) cannot be forged.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    i18n.init_app(app)
    viewer.init_app(app)
    app.register_blueprint(blueprint)
