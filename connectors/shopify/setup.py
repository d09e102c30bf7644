"""What an install sets up on the shop: reading the shop's details and subscribing to its webhooks."""

from __future__ import annotations

from typing import Any

from connectors.shopify.client import ShopifyClient

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
