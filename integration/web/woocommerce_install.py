"""WooCommerce's authorization callback: `POST /woocommerce/auth/callback`.

After the merchant approves storepulse in their WordPress admin, the shop posts the new REST keys
here as JSON (`key_id`, `user_id`, `consumer_key`, `consumer_secret`, `key_permissions`). The
`user_id` is the single-use nonce of the pending request the admin made (`connection.authorize_url`):
without it nothing is stored (403). Keys without `read_write` are refused (400). The keys are stored
encrypted on the account's store and the set-up job is queued (the shop's details, its webhooks,
the backfill); with Redis down the periodic upkeep sets the store up instead. The answer is 200 at
once: the shop's page waits for it.
"""

from __future__ import annotations

import json
import logging

import redis
from flask import Blueprint, abort

from connectors.woocommerce import connection
from connectors.woocommerce.client import KEY, SECRET
from connectors.woocommerce.connection import Keys, ShopTaken
from integration.store.models import Account
from integration.web import replica
from integration.web.context import current_settings, db
from integration.web.views.bodies import read_body
from jobs.queues import INGEST, enqueue
from jobs.woocommerce import set_up_store_job

logger = logging.getLogger(__name__)
blueprint = Blueprint("woocommerce_install", __name__, url_prefix="/woocommerce")

MAX_BODY_BYTES = 4096
# Until the set-up job reads the shop's own: ISO 4217's code for "no currency".
NO_CURRENCY = "XXX"


@blueprint.post("/auth/callback")
def callback() -> tuple[dict[str, str], int]:
    """Take the keys a shop sends for a pending authorization; connect the store."""
    settings = current_settings()
    try:
        document = json.loads(read_body(MAX_BODY_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        abort(400, "the body is not JSON")
    if not isinstance(document, dict):
        abort(400, "the body is not a JSON object")
    nonce = str(document.get("user_id") or "")
    try:
        pending = connection.take_authorization(settings, nonce)
    except redis.RedisError:
        abort(503, "storepulse cannot take the keys right now; connect the shop again in a minute")
    if pending is None:
        abort(403, "no pending authorization has this user_id; connect the shop from storepulse's Setup")
    account_id, url = pending
    if document.get("key_permissions") != connection.PERMISSIONS:
        abort(400, "storepulse needs read_write keys")
    key, secret = str(document.get("consumer_key") or ""), str(document.get("consumer_secret") or "")
    if not KEY.fullmatch(key) or not SECRET.fullmatch(secret):
        abort(400, "consumer_key and consumer_secret are not WooCommerce keys")
    account = db.session.get(Account, account_id)
    if account is None:
        abort(403, "the account that asked for these keys is gone")
    try:
        store, _ = connection.connect(
            db.session,
            settings,
            account_id,
            url,
            Keys(key, secret),
            name=url.split("://", 1)[1][:200],
            currency=NO_CURRENCY,
            time_zone=account.time_zone,  # until the set-up job reads the shop's
        )
    except ShopTaken:
        abort(409, "this shop is connected to another storepulse account")
    store_id = store.id
    db.commit()  # the keys are kept before anything else can fail
    replica.wrote(account_id)  # the admin's reads of the new store wait until a replica has it
    try:
        connection.mark_authorized(settings, nonce, store_id)
        enqueue(settings, INGEST, set_up_store_job, store_id)
    except redis.RedisError:
        logger.info("store %s connected; its set-up waits for the upkeep (Redis unavailable)", store_id)
    logger.info("WooCommerce shop connected as store %s", store_id)
    return {"status": "connected"}, 200
