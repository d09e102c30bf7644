"""The Shopify install routes: the authorization code grant, for a non-embedded app.

`/shopify/install` checks the shop and the query's HMAC and sends the merchant to the grant screen
with a single-use `state` nonce (kept in Redis for ten minutes and in the browser's signed session).
`/shopify/callback` checks the nonce, the HMAC and the shop, exchanges the code for an expiring
offline token and hands it to `connect_shop`, which stores it encrypted, creates or reconnects the
account and store, subscribes to the webhooks and enqueues the backfill. An embedded app is installed
by Shopify instead (managed installation): its first page load exchanges the session token for an
offline token and ends in `connect_shop` too (`admin.viewer.first_load`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import redis
from flask import Blueprint, abort, redirect, render_template, request, session
from werkzeug.wrappers import Response

from connectors.shopify import setup
from connectors.shopify.client import OAuth, ShopifyClient, Tokens, shop_domain
from connectors.shopify.connection import oauth, seal
from integration.accounts import connect_platform_store
from integration.audiences import destinations
from integration.errors import ConfigError, ConnectorError
from integration.settings import Settings
from integration.store.models import Platform
from integration.store.redis import connection
from integration.web import replica
from integration.web.context import current_settings, db
from jobs.queues import INGEST, enqueue
from jobs.shopify import start_backfill_job
from webhooks.signatures import shopify_query_valid

logger = logging.getLogger(__name__)
blueprint = Blueprint("shopify_install", __name__, url_prefix="/shopify")

STATE_TTL_SECONDS = 600


def _state_key(nonce: str) -> str:
    return f"storepulse:shopify-state:{nonce}"


def _signed_by_shopify(unsigned: str) -> tuple[Settings, OAuth, dict[str, str], str]:
    """The settings, the app's OAuth client, the query and its shop of a request Shopify signed;
    503 when the app is not configured, 400 without a shop domain, 401 (saying `unsigned`) unsigned."""
    settings = current_settings()
    try:
        app_oauth = oauth(settings)
    except ConfigError:
        abort(503, "the Shopify app is not configured (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
    params = request.args.to_dict()
    shop = shop_domain(params.get("shop"))
    if shop is None:
        abort(400, "shop must be a {name}.myshopify.com domain")
    if not shopify_query_valid(settings.shopify_secrets, params):
        abort(401, unsigned)
    return settings, app_oauth, params, shop


class MissingScopes(Exception):
    """Shopify granted fewer permissions than storepulse needs; `scopes` names the missing ones."""

    def __init__(self, scopes: list[str]) -> None:
        super().__init__(", ".join(scopes))
        self.scopes = scopes


@dataclass(frozen=True)
class Connected:
    """A shop just connected: its store and account, and whether the backfill was queued."""

    store_id: int
    account_id: int
    name: str
    new: bool
    backfill: bool


def connect_shop(settings: Settings, shop: str, tokens: Tokens) -> Connected:
    """Connect (or reconnect) a shop with its new offline token: store it encrypted, subscribe the
    webhooks, switch the web pixel on with the store's public key, and queue the backfill.

    Both install flows end here: the authorization code grant of a non-embedded install and the
    token exchange of an embedded app's first page load. The store is committed before Shopify is
    asked for its webhooks. With Redis down the backfill is not queued (`backfill` is False): the
    periodic Shopify upkeep starts it. Raises MissingScopes (nothing stored) and ConnectorError.
    """
    missing = tokens.missing_scopes(settings.shopify_scopes)
    if missing:
        raise MissingScopes(missing)
    client = ShopifyClient(shop, tokens.access_token, settings.shopify_api_version)
    details = setup.shop_details(client)
    store, new = connect_platform_store(
        db.session,
        platform=Platform.SHOPIFY,
        shop_domain=shop,
        name=str(details.get("name") or shop),
        currency=str(details.get("currencyCode") or "USD"),
        time_zone=str(details.get("ianaTimezone") or settings.default_time_zone),
        credentials=seal(settings, tokens),
    )
    # New tokens: tag syncs that the revoked ones stopped may run again.
    destinations.restart_store_syncs(db.session, store.id)
    store_id, account_id, name, public_key = store.id, store.account_id, store.name, store.public_key
    db.commit()  # the store is connected before Shopify is asked for its webhooks
    setup.register_webhooks(client, f"{settings.app_url}/webhooks/shopify")
    try:
        setup.activate_pixel(client, f"{settings.app_url}/collect", public_key)
    except ConnectorError as exc:
        # Orders, customers and checkouts arrive without it: the shop is connected all the same,
        # and the Setup page says the pixel sends nothing yet.
        logger.warning("web pixel not switched on for %s: %s", shop, exc)
    try:
        enqueue(settings, INGEST, start_backfill_job, store_id)
        backfill = True
    except redis.RedisError:
        backfill = False  # the periodic Shopify upkeep starts it
    logger.info("shop %s connected as store %s (new: %s)", shop, store_id, new)
    return Connected(store_id=store_id, account_id=account_id, name=name, new=new, backfill=backfill)


@blueprint.get("/install")
def install() -> Response:
    """Send the merchant to Shopify's grant screen."""
    settings, app_oauth, _, shop = _signed_by_shopify("the request is not signed by Shopify")
    nonce = secrets.token_urlsafe(32)
    try:
        connection(settings).set(_state_key(nonce), shop, ex=STATE_TTL_SECONDS)
    except redis.RedisError:
        abort(503, "storepulse cannot start an install right now; try again in a minute")
    session["shopify_state"] = nonce
    url = app_oauth.authorize_url(
        shop,
        settings.shopify_api_version,
        settings.shopify_scopes,
        f"{settings.app_url}/shopify/callback",
        nonce,
    )
    return redirect(url)


@blueprint.get("/callback")
def callback() -> str:
    """Finish the install: check, exchange the code, connect the store, subscribe, backfill."""
    settings, app_oauth, params, shop = _signed_by_shopify("the callback is not signed by Shopify")
    nonce = params.get("state", "")
    try:
        # Single use: the nonce is deleted as it is read.
        stored = connection(settings).getdel(_state_key(nonce)) if nonce else None
    except redis.RedisError:
        abort(503, "storepulse cannot finish the install right now; install again in a minute")
    expected_shop = stored.decode() if isinstance(stored, bytes) else stored
    cookie_nonce = session.pop("shopify_state", None)
    if expected_shop != shop or cookie_nonce is None or not secrets.compare_digest(cookie_nonce, nonce):
        abort(403, "the install request expired or was not started here; install again from Shopify")
    if not params.get("code"):
        abort(400, "no authorization code")

    try:
        tokens = app_oauth.exchange_code(shop, params["code"])
        connected = connect_shop(settings, shop, tokens)
    except MissingScopes as exc:
        abort(403, f"the app needs these permissions: {', '.join(exc.scopes)}")
    except ConnectorError as exc:
        logger.warning("install of %s failed: %s", shop, exc)
        abort(502, "Shopify did not complete the install; please try again")
    replica.wrote(connected.account_id)  # the admin's first reads wait until a replica has it
    ids = {"store_id": connected.store_id, "account_id": connected.account_id, "name": connected.name}
    return render_template(
        "shopify_connected.html", shop=shop, new=connected.new, backfill=connected.backfill, **ids
    )
