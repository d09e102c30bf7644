"""WooCommerce's webhook deliveries, to a URL per store: `POST /webhooks/woocommerce/<store id>`.

The view reads the raw body and verifies `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the body
with the store's webhook secret) before anything else: a missing or wrong signature answers 401
and nothing is stored. The exception is the ping WooCommerce sends when a webhook is created or
re-enabled (a form body `webhook_id=N`, unsigned), which must be answered 200 and is not stored.
A delivery is stored in the inbox keyed by `X-WC-Webhook-Delivery-ID` (a redelivery stores
nothing new), the store's drain is asked for, and the answer is 200 at once: WooCommerce never
retries a failed delivery, and disables a webhook after five failures in a row. A store that is
not connected answers 404, so its webhooks are disabled in time. Each web process remembers a
store's secret (or its absence) for 10 s (`webhooks.cache`): a disconnection or a reconnection with
a new secret takes effect within that time.
"""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, abort, request
from sqlalchemy import select

from integration.crypto import decrypt_json
from integration.ingest import inbox
from integration.store.models import Platform, Store, StoreState
from integration.web.context import current_settings, db
from integration.web.views.bodies import read_body
from webhooks.cache import TimedCache, process_cache
from webhooks.intake import store_and_hand_on
from webhooks.signatures import woocommerce_webhook_valid

blueprint = Blueprint("woocommerce_webhooks", __name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # an order with hundreds of lines is far smaller
KEPT_HEADERS = ("X-WC-Webhook-Source", "X-WC-Webhook-ID", "X-WC-Webhook-Resource", "X-WC-Webhook-Event")
PING = re.compile(rb"webhook_id=[0-9]{1,20}")
MAX_TOPIC_LENGTH = 100


SECRETS = "storepulse.woocommerce.secrets"


def _read_secret(store_id: int) -> str | None:
    """The webhook secret of a connected WooCommerce store ("" when its keys are gone: nothing can
    be verified, so nothing is taken); None when there is no such store."""
    row = db.session.execute(
        select(Store.credentials).where(
            Store.id == store_id, Store.platform == Platform.WOOCOMMERCE, Store.state == StoreState.CONNECTED
        )
    ).one_or_none()
    db.commit()  # the delivery's insert then runs on its own, committed as it runs
    if row is None:
        return None
    if row.credentials is None:
        return ""
    return str(decrypt_json(current_settings().encryption_keys, row.credentials).get("webhook_secret") or "")


@blueprint.post("/webhooks/woocommerce/<int:store_id>")
def receive(store_id: int) -> tuple[str, int]:
    """Receive one WooCommerce webhook delivery for the store `store_id`."""
    body = read_body(MAX_BODY_BYTES)  # as it arrives: an unsigned body must not fill memory
    signature = request.headers.get("X-WC-Webhook-Signature")
    if not signature and PING.fullmatch(body.strip()):
        return "", 200  # the creation ping: acknowledged, nothing to store
    settings = current_settings()
    secrets: TimedCache[int, str | None] = process_cache(SECRETS)
    secret = secrets.get(store_id, _read_secret)
    if secret is None:
        abort(404)
    if not woocommerce_webhook_valid(secret, signature, body):
        abort(401)
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if not topic or len(topic) > MAX_TOPIC_LENGTH:
        abort(400, f"X-WC-Webhook-Topic is required (at most {MAX_TOPIC_LENGTH} characters)")
    # Delivery ids are hashes made by each shop: the store's id keeps two shops' apart.
    sent_id = request.headers.get("X-WC-Webhook-Delivery-ID") or (
        "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    )
    delivery_id = f"{store_id}:{sent_id}"
    if len(delivery_id) > inbox.MAX_ID_LENGTH:
        abort(400, f"X-WC-Webhook-Delivery-ID is longer than {inbox.MAX_ID_LENGTH - 21} characters")
    # Stored (committed, outside the request's session, with the deliveries of the requests served
    # meanwhile) and handed on before the answer.
    store_and_hand_on(
        settings,
        source="woocommerce",
        topic=topic,
        delivery_id=delivery_id,
        body=body,
        store_id=store_id,
        headers={h: request.headers[h][:200] for h in KEPT_HEADERS if h in request.headers},
        signature_verified=True,
    )
    return "", 200
