"""What connecting sets up on a WooCommerce shop: reading its details and keeping its webhooks.

storepulse subscribes to six topics with one delivery URL per store and the store's own secret.
WooCommerce disables a webhook after five failed deliveries in a row (and never retries a
delivery), so `ensure_webhooks` runs at connection and then hourly: it creates the topics that are
missing and re-activates the ones WooCommerce disabled, setting the secret again. A webhook the
shop's owner paused stays paused (their choice); the Setup page says so through the counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from babel.numbers import is_currency

from connectors.woocommerce.client import WooClient
from integration.errors import FatalConnectorError

logger = logging.getLogger(__name__)

TOPICS = (
    "order.created",
    "order.updated",
    "order.deleted",
    "customer.created",
    "customer.updated",
    "customer.deleted",
)
ACTIVE, PAUSED, DISABLED = "active", "paused", "disabled"


@dataclass(frozen=True)
class ShopDetails:
    """What the shop says of itself: its site name, currency and IANA time zone (None if it uses
    a bare UTC offset, which names no zone)."""

    name: str
    currency: str
    time_zone: str | None


def shop_details(client: WooClient) -> ShopDetails:
    """The shop's name and time zone (the WordPress index) and its currency (WooCommerce's data)."""
    site = client.site()
    currency = client.get("data/currencies/current")
    code = str(currency.get("code") or "").upper() if isinstance(currency, dict) else ""
    if not is_currency(code):
        raise FatalConnectorError(f"WooCommerce names no ISO 4217 currency for the shop ({code[:10]!r})")
    zone = str(site.get("timezone_string") or "").strip()
    return ShopDetails(name=str(site.get("name") or "").strip()[:200], currency=code, time_zone=zone or None)


@dataclass(frozen=True)
class WebhookCheck:
    """What `ensure_webhooks` found and did, topic by topic."""

    created: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    paused: tuple[str, ...] = ()  # by the shop's owner: left so
    active: tuple[str, ...] = ()


def ensure_webhooks(client: WooClient, delivery_url: str, secret: str) -> WebhookCheck:
    """Create the missing subscriptions of `delivery_url`, re-activate disabled ones; say what was done."""
    ours: dict[str, dict[str, Any]] = {}
    for page in client.pages("webhooks", {"status": "all", "orderby": "id", "order": "asc"}):
        for hook in page.items:
            topic = str(hook.get("topic"))
            if hook.get("delivery_url") == delivery_url and topic in TOPICS:
                # Of two for one topic, an active one counts: a second would deliver everything twice.
                if topic not in ours or hook.get("status") == ACTIVE:
                    ours[topic] = hook
    created: list[str] = []
    reactivated: list[str] = []
    paused: list[str] = []
    active: list[str] = []
    for topic in TOPICS:
        found = ours.get(topic)
        if found is None:
            client.send(
                "POST",
                "webhooks",
                {
                    "name": f"storepulse {topic}",
                    "topic": topic,
                    "delivery_url": delivery_url,
                    "secret": secret,
                    "status": ACTIVE,
                },
            )
            created.append(topic)
        elif found.get("status") == DISABLED:
            client.send("PUT", f"webhooks/{int(str(found['id']))}", {"status": ACTIVE, "secret": secret})
            reactivated.append(topic)
        elif found.get("status") == PAUSED:
            paused.append(topic)
        else:
            active.append(topic)
    if created or reactivated:
        logger.info(
            "WooCommerce webhooks of %s: created %s, re-activated %s", delivery_url, created, reactivated
        )
    return WebhookCheck(tuple(created), tuple(reactivated), tuple(paused), tuple(active))
