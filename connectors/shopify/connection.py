"""A connected shop's credentials: stored encrypted, refreshed before they expire, turned into a client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from connectors.shopify.client import OAuth, ShopifyClient, Tokens
from integration.crypto import decrypt_json, encrypt_json
from integration.errors import ConfigError, CredentialsRejected, FatalConnectorError
from integration.settings import Settings
from integration.store import locks, session_scope
from integration.store.models import Platform, Store, StoreState


def oauth(settings: Settings, http: requests.Session | None = None) -> OAuth:
    """The app's OAuth client; ConfigError when the Shopify app is not configured."""
    if not settings.shopify_api_key or not settings.shopify_api_secret:
        raise ConfigError("SHOPIFY_API_KEY", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are needed for Shopify")
    return OAuth(settings.shopify_api_key, settings.shopify_api_secret, http)


def seal(settings: Settings, tokens: Tokens) -> bytes:
    """Encrypt tokens for `Store.credentials`."""
    return encrypt_json(settings.encryption_keys, tokens.as_dict())


def client_for(
    settings: Settings,
    store_id: int,
    *,
    http: requests.Session | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ShopifyClient:
    """A GraphQL client for a connected Shopify store, refreshing its access token first if it is expiring.

    The store row is locked while refreshing: refresh tokens rotate, so two workers must not both use one.
    """
    with session_scope(settings.database_url) as session:
        store = session.get(Store, store_id, with_for_update=locks.FOR_CHANGE)
        if store is None or store.platform != Platform.SHOPIFY or not store.shop_domain:
            raise FatalConnectorError(f"store {store_id} is not a Shopify store")
        if store.state != StoreState.CONNECTED or store.credentials is None:
            raise CredentialsRejected(f"store {store_id} is not connected; reinstall the app from Shopify")
        tokens = Tokens(**decrypt_json(settings.encryption_keys, store.credentials))
        if tokens.expiring():
            assert tokens.refresh_token is not None  # noqa: S101 - expiring() checks it
            tokens = oauth(settings, http).refresh(store.shop_domain, tokens.refresh_token)
            store.credentials = seal(settings, tokens)
        shop = store.shop_domain
    kwargs: dict[str, Any] = {"http": http}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return ShopifyClient(shop, tokens.access_token, settings.shopify_api_version, **kwargs)
