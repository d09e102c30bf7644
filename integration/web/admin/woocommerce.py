"""Connecting a WooCommerce shop from Setup → Stores: WooCommerce's app authorization, and back.

`/setup/stores/woocommerce` takes the shop's address, records a pending authorization and sends the
merchant to the shop's `/wc-auth/v1/authorize` screen; the shop posts the keys to
`/woocommerce/auth/callback` (`integration.web.woocommerce_install`) and sends the merchant back
to `/setup/stores/woocommerce/return`, which says whether the store is connected. Entering keys by
hand (`POST /api/v1/stores/woocommerce`) is the fallback the same page offers.
"""

from __future__ import annotations

import redis
from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from connectors.woocommerce import connection
from connectors.woocommerce.client import shop_url
from integration.store.models import Platform, Store
from integration.web.admin.frame import blueprint
from integration.web.admin.viewer import admin_page
from integration.web.context import current_settings, db

ANCHOR = "#connect-woocommerce"


def _back(**flag: str) -> Response:
    return redirect(url_for("admin.stores", _anchor=ANCHOR[1:], **flag))  # type: ignore[arg-type]


@blueprint.get("/setup/stores/woocommerce")
@admin_page
def woocommerce_authorize() -> Response:
    """Send the merchant to their shop to approve storepulse's access."""
    settings = current_settings()
    url = shop_url(request.args.get("shop_url"), allow_http=settings.webhook_allow_private)
    if url is None:
        return _back(woo_error="address")
    try:
        target = connection.authorize_url(settings, g.viewer.account_id, url)
    except redis.RedisError:
        return _back(woo_error="unavailable")
    return redirect(target)


@blueprint.get("/setup/stores/woocommerce/return")
@admin_page
def woocommerce_return() -> Response:
    """Where the shop sends the merchant back: connected, refused, or the keys not arrived."""
    if request.args.get("success") != "1":
        return _back(woo_error="refused")
    try:
        store_id = connection.authorized_store(current_settings(), request.args.get("user_id", ""))
    except redis.RedisError:
        store_id = None
    store = db.session.get(Store, store_id) if store_id is not None else None
    if store is None or store.account_id != g.viewer.account_id or store.platform != Platform.WOOCOMMERCE:
        return _back(woo_error="no_keys")
    return _back(woo_connected=str(store.id))
