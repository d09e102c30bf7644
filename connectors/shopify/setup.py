"""What an install sets up on the shop: reading the shop's details, subscribing to its webhooks and
switching on storepulse's web pixel with the shop's collector settings."""

from __future__ import annotations

import json
import logging
from typing import Any

from connectors.shopify.client import ShopifyClient
from integration.errors import FatalConnectorError, RetriableConnectorError

logger = logging.getLogger(__name__)

# GraphQL topic → the X-Shopify-Topic of its deliveries. The compliance topics are declared in
# shopify.app.toml: Shopify accepts them nowhere else.
WEBHOOK_TOPICS = {
    "ORDERS_CREATE": "orders/create",
    "ORDERS_UPDATED": "orders/updated",
    "ORDERS_PAID": "orders/paid",
    "ORDERS_CANCELLED": "orders/cancelled",
    "ORDERS_DELETE": "orders/delete",
    "REFUNDS_CREATE": "refunds/create",
    "CHECKOUTS_CREATE": "checkouts/create",
    "CHECKOUTS_UPDATE": "checkouts/update",
    "CHECKOUTS_DELETE": "checkouts/delete",
    "CUSTOMERS_CREATE": "customers/create",
    "CUSTOMERS_UPDATE": "customers/update",
    "CUSTOMERS_DELETE": "customers/delete",
    "CUSTOMERS_EMAIL_MARKETING_CONSENT_UPDATE": "customers_email_marketing_consent/update",
    "CUSTOMER_TAGS_ADDED": "customer.tags_added",
    "CUSTOMER_TAGS_REMOVED": "customer.tags_removed",
    "CUSTOMERS_PURCHASING_SUMMARY": "customers/purchasing_summary",
    "APP_UNINSTALLED": "app/uninstalled",
    "BULK_OPERATIONS_FINISH": "bulk_operations/finish",
}

SHOP_QUERY = "query { shop { name currencyCode ianaTimezone myshopifyDomain } }"

SUBSCRIPTIONS_QUERY = """
query($after: String) {
  webhookSubscriptions(first: 250, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SUBSCRIBE = """
mutation($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


def shop_details(client: ShopifyClient) -> dict[str, Any]:
    """The shop's name, currency and IANA time zone."""
    shop: dict[str, Any] = client.graphql(SHOP_QUERY)["shop"]
    return shop


def register_webhooks(client: ShopifyClient, uri: str) -> list[str]:
    """Subscribe `uri` to every topic storepulse reads (keeping existing ones); return the new topics."""
    existing = {
        node["topic"]
        for node in client.paginate(SUBSCRIPTIONS_QUERY, {}, ("webhookSubscriptions",))
        if node.get("uri") == uri
    }
    created = []
    for topic in WEBHOOK_TOPICS:
        if topic in existing:
            continue
        client.mutation(
            SUBSCRIBE,
            {"topic": topic, "subscription": {"uri": uri, "format": "JSON"}},
            "webhookSubscriptionCreate",
        )
        created.append(topic)
    return created


PIXEL_CREATE = """
mutation($webPixel: WebPixelInput!) {
  webPixelCreate(webPixel: $webPixel) {
    webPixel { id settings }
    userErrors { code field message }
  }
}
"""

PIXEL_QUERY = "query { webPixel { id settings } }"

PIXEL_UPDATE = """
mutation($id: ID!, $webPixel: WebPixelInput!) {
  webPixelUpdate(id: $id, webPixel: $webPixel) {
    webPixel { id settings }
    userErrors { code field message }
  }
}
"""


def activate_pixel(client: ShopifyClient, collect_url: str, public_key: str) -> str:
    """Switch storepulse's web pixel on for the shop with its settings (the collector's URL and the
    store's public key), or update the one there; return the pixel's id.

    Shopify keeps one pixel per app and shop: creating a second answers TAKEN, and then the
    existing one is updated. Raises FatalConnectorError with Shopify's reasons when it refuses
    (NO_EXTENSION: the app's extension is not deployed; INVALID_SETTINGS: it is an older version).
    """
    pixel = {"settings": json.dumps({"collectUrl": collect_url, "publicKey": public_key})}
    created = client.graphql(PIXEL_CREATE, {"webPixel": pixel}).get("webPixelCreate") or {}
    errors = created.get("userErrors") or []
    if not errors:
        return str(created["webPixel"]["id"])
    if not all(e.get("code") == "TAKEN" for e in errors):
        raise _refused("webPixelCreate", errors)
    existing = (client.graphql(PIXEL_QUERY).get("webPixel") or {}).get("id")
    if not existing:
        raise RetriableConnectorError("webPixelCreate: TAKEN, but the shop lists no pixel of the app yet")
    updated = client.graphql(PIXEL_UPDATE, {"id": existing, "webPixel": pixel}).get("webPixelUpdate") or {}
    if updated.get("userErrors"):
        raise _refused("webPixelUpdate", updated["userErrors"])
    return str(existing)


def _refused(field: str, errors: list[dict[str, Any]]) -> FatalConnectorError:
    return FatalConnectorError(
        f"{field}: " + "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    )
