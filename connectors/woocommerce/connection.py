"""A WooCommerce shop connected to an account: its REST keys and webhook secret, stored encrypted.

A shop is connected to one account at a time (`stores` is unique by platform and shop address):
the account that holds it may connect it again with new keys (its data stays), another account is
refused. Rejected keys (a 401 or 403 from the shop: the merchant revoked them in WordPress)
disconnect the store, keeping its data, and tell the account; its webhooks then answer 404 and
WooCommerce disables them, and connecting again re-activates them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from connectors.woocommerce.client import WooClient
from integration import accounts
from integration.crypto import decrypt_json, encrypt_json
from integration.errors import CredentialsRejected, FatalConnectorError
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import Platform, Store, StoreState
from integration.store.redis import connection


@dataclass(frozen=True)
class Keys:
    """A shop's REST API keys as WooCommerce issues them (`ck_…`, `cs_…`)."""

    consumer_key: str
    consumer_secret: str


ShopTaken = accounts.StoreTaken  # the shop is connected to another storepulse account


def delivery_url(settings: Settings, store_id: int) -> str:
    """Where the store's webhooks deliver."""
    return f"{settings.app_url}/webhooks/woocommerce/{store_id}"


def client(settings: Settings, url: str, keys: Keys) -> WooClient:
    """A REST client for a shop, bounded to the addresses the installation allows."""
    return WooClient(
        url,
        keys.consumer_key,
        keys.consumer_secret,
        allow_private=settings.webhook_allow_private,
        ca_bundle=settings.ca_bundle,
    )


def connect(
    session: Session,
    settings: Settings,
    account_id: int,
    url: str,
    keys: Keys,
    *,
    name: str,
    currency: str,
    time_zone: str,
) -> tuple[Store, bool]:
    """Connect the shop at `url` to the account with its keys; return the store and whether it is new.

    A reconnection keeps the store's webhook secret, so deliveries already on their way still verify.
    Raises ShopTaken (`accounts.StoreTaken`) when another account holds the shop.
    """
    store = accounts.held_store(session, account_id, Platform.WOOCOMMERCE, url)
    secret = secrets.token_urlsafe(32)
    if store is not None and store.credentials is not None:
        kept = decrypt_json(settings.encryption_keys, store.credentials)
        secret = str(kept.get("webhook_secret") or secret)
    keys_and_secret = {
        "consumer_key": keys.consumer_key,
        "consumer_secret": keys.consumer_secret,
        "webhook_secret": secret,
    }
    return accounts.connect_store(
        session,
        account_id,
        store,
        platform=Platform.WOOCOMMERCE,
        shop_domain=url,
        credentials=encrypt_json(settings.encryption_keys, keys_and_secret),
        name=name,
        currency=currency,
        time_zone=time_zone,
    )


@dataclass(frozen=True)
class Connected:
    """A connected store's client and what its webhooks need."""

    store_id: int
    account_id: int
    client: WooClient
    delivery_url: str
    webhook_secret: str


def connected(settings: Settings, store_id: int) -> Connected:
    """The REST client of a connected WooCommerce store; FatalConnectorError when it is not one."""
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id)
        if store is None or store.platform != Platform.WOOCOMMERCE or not store.shop_domain:
            raise FatalConnectorError(f"store {store_id} is not a WooCommerce store")
        if store.state != StoreState.CONNECTED or store.credentials is None:
            raise CredentialsRejected(f"store {store_id} is not connected; connect it again in Setup")
        stored: dict[str, Any] = decrypt_json(settings.encryption_keys, store.credentials)
        url, account_id = store.shop_domain, store.account_id
    keys = Keys(str(stored["consumer_key"]), str(stored["consumer_secret"]))
    return Connected(
        store_id,
        account_id,
        client(settings, url, keys),
        delivery_url(settings, store_id),
        stored["webhook_secret"],
    )


def disconnect(settings: Settings, store_id: int, why: str) -> bool:
    """Disconnect a store whose keys the shop refused (its data stays); tell the account. False if
    it was not connected."""
    with session_scope(settings.database_url) as session:
        return accounts.disconnect_refused(session, store_id, why)


# WooCommerce's app authorization (`/wc-auth/v1/authorize`): the merchant approves storepulse in
# their WordPress admin, the shop posts the new keys to our callback with the `user_id` we gave,
# and sends the merchant back. The `user_id` is a single-use nonce naming the pending request.
AUTHORIZE_PATH = "/wc-auth/v1/authorize"
PENDING_TTL_SECONDS = 15 * 60
APP_NAME = "storepulse"
PERMISSIONS = "read_write"  # webhooks are created with the keys: read alone cannot


def _pending_key(nonce: str) -> str:
    return f"storepulse:woocommerce-auth:{nonce}"


def _done_key(nonce: str) -> str:
    return f"storepulse:woocommerce-auth-done:{nonce}"


def authorize_url(settings: Settings, account_id: int, url: str) -> str:
    """Record a pending authorization for the account and the shop; the address to send the merchant
    to. Raises Redis's errors (nothing is pending then)."""
    nonce = secrets.token_urlsafe(32)
    pending = json.dumps({"account_id": account_id, "url": url})
    connection(settings).set(_pending_key(nonce), pending, ex=PENDING_TTL_SECONDS)
    query = urlencode(
        {
            "app_name": APP_NAME,
            "scope": PERMISSIONS,
            "user_id": nonce,
            "return_url": f"{settings.app_url}/admin/setup/stores/woocommerce/return",
            "callback_url": f"{settings.app_url}/woocommerce/auth/callback",
        }
    )
    return f"{url}{AUTHORIZE_PATH}?{query}"


def take_authorization(settings: Settings, nonce: str) -> tuple[int, str] | None:
    """The pending authorization a callback names (account id, shop address), taken so it cannot be
    used again; None when there is none (expired, used, or never made here)."""
    if not nonce or len(nonce) > 100:
        return None
    stored = connection(settings).getdel(_pending_key(nonce))
    if stored is None:
        return None
    pending = json.loads(stored)
    return int(pending["account_id"]), str(pending["url"])


def mark_authorized(settings: Settings, nonce: str, store_id: int) -> None:
    """Remember, for the merchant's return, which store a callback connected."""
    connection(settings).set(_done_key(nonce), str(store_id), ex=PENDING_TTL_SECONDS)


def authorized_store(settings: Settings, nonce: str) -> int | None:
    """The store the callback of this authorization connected, if it came."""
    if not nonce or len(nonce) > 100:
        return None
    stored = connection(settings).get(_done_key(nonce))
    return int(stored) if stored is not None else None
