"""Shopify's webhook deliveries, every topic, compliance topics included.

The view reads the raw body and verifies `X-Shopify-Hmac-Sha256` before anything else (401 and
nothing stored on a mismatch), finds the store by `X-Shopify-Shop-Domain` (each web process
remembers a shop's store for 10 s, `webhooks.cache`; an unknown shop is looked up every time, so a
new installation is found at once), stores the delivery in the inbox keyed by
`X-Shopify-Webhook-Id` (a redelivery stores nothing new) with one statement committed as it runs,
asks for a drain of Shopify's deliveries and answers 200. A database outage answers 503, so Shopify
retries; a Redis outage leaves the stored delivery to the periodic sweeper.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, abort, request
from sqlalchemy import select

from connectors.shopify.client import shop_domain
from connectors.shopify.source import AFTER_UNINSTALL_TOPICS
from connectors.times import TimeOutOfRange, not_ahead, parse_instant
from integration.ingest import inbox
from integration.store.models import Platform, Store
from integration.web.context import current_settings, db
from integration.web.views.bodies import read_body
from webhooks.cache import TimedCache, process_cache
from webhooks.intake import store_and_hand_on
from webhooks.signatures import shopify_webhook_valid

blueprint = Blueprint("shopify_webhooks", __name__)

KEPT_HEADERS = ("X-Shopify-API-Version", "X-Shopify-Name")
MAX_BODY_BYTES = 10 * 1024 * 1024  # Shopify's largest payloads (orders with many lines) are far smaller
# The inbox keeps delivery and event ids of up to 255 characters; Shopify's are UUIDs (36).
MAX_ID_LENGTH = inbox.MAX_ID_LENGTH
SHOPS = "storepulse.shopify.shops"


def _read_shop(shop: str) -> int | None:
    """The id of the store of this shop domain; None when there is none."""
    store_id = db.session.scalar(
        select(Store.id).where(Store.platform == Platform.SHOPIFY, Store.shop_domain == shop)
    )
    db.commit()  # the delivery's insert then runs on its own, committed as it runs
    return store_id


@blueprint.post("/webhooks/shopify")
def receive() -> tuple[str, int]:
    """Receive one Shopify webhook delivery."""
    body = read_body(MAX_BODY_BYTES)  # as it arrives: an unsigned body must not fill memory
    settings = current_settings()
    if not settings.shopify_secrets:
        abort(503, "the Shopify app is not configured (SHOPIFY_API_SECRET)")
    if not shopify_webhook_valid(
        settings.shopify_secrets, request.headers.get("X-Shopify-Hmac-Sha256"), body
    ):
        abort(401)
    topic = request.headers.get("X-Shopify-Topic", "")
    shop = shop_domain(request.headers.get("X-Shopify-Shop-Domain"))
    if not topic or len(topic) > 100 or shop is None:
        abort(400, "X-Shopify-Topic and X-Shopify-Shop-Domain are required")
    # Shopify always sends a webhook id; without one, the same topic, shop and bytes are one delivery.
    webhook_id = _bounded_id("X-Shopify-Webhook-Id") or (
        "sha256:" + hashlib.sha256(f"{topic}\n{shop}\n".encode() + body).hexdigest()
    )
    event_id = _bounded_id("X-Shopify-Event-Id")
    triggered_at = _timestamp(request.headers.get("X-Shopify-Triggered-At"))
    shops: TimedCache[str, int | None] = process_cache(SHOPS)
    store_id = shops.get(shop, _read_shop)
    if store_id is None:
        shops.forget(shop)  # a shop installing now is found by its next delivery
        if topic in AFTER_UNINSTALL_TOPICS:
            return "", 200  # nothing is stored for a shop we do not know: nothing to export or erase
        abort(404)
    # Stored (committed, outside the request's session, with the deliveries of the requests served
    # meanwhile) and handed on before the answer.
    store_and_hand_on(
        settings,
        source="shopify",
        topic=topic,
        delivery_id=webhook_id,
        body=body,
        store_id=store_id,
        event_id=event_id,
        triggered_at=triggered_at,
        headers={h: request.headers[h][:200] for h in KEPT_HEADERS if h in request.headers},
        signature_verified=True,
    )
    return "", 200


def _bounded_id(header: str) -> str | None:
    """A delivery's id header, whole; 400 when longer than MAX_ID_LENGTH (an id is never cut:
    two long ids sharing their first characters would be taken for one delivery)."""
    value = request.headers.get(header) or None
    if value is not None and len(value) > MAX_ID_LENGTH:
        abort(400, f"{header} is longer than {MAX_ID_LENGTH} characters")
    return value


def _timestamp(raw: str | None) -> datetime | None:
    """`X-Shopify-Triggered-At` in UTC; None when absent or unreadable (it only orders deliveries),
    400 when it names a time outside EARLIEST..now plus FUTURE_SKEW, which Shopify never sends."""
    if not raw:
        return None
    try:
        return parse_instant(raw, latest=not_ahead()())
    except TimeOutOfRange as exc:
        abort(400, f"X-Shopify-Triggered-At {raw[:40]!r} {exc}")
    except ValueError:
        return None
