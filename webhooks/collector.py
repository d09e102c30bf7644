"""The storefront collector: `POST /collect`, where the Shopify pixel and the tracking snippet post.

It is public, so it bounds everything it reads before it reads it:
- the body is read as it arrives, at most MAX_BODY_BYTES (413 beyond);
- each client address has a token bucket (429 with `Retry-After`), checked before the store is
  looked up; each store's public key has another, checked once the key is known;
- the key is the store's public key (401 when no connected store has it): it can add events to
  its own store and do nothing else;
- the snippet is taken only from the origins the merchant listed for the store (403 otherwise),
  and the answer's CORS headers name that origin; the Shopify pixel runs in Shopify's sandbox,
  whose origin is Shopify's, so a Shopify store's key is taken from any origin with
  `Access-Control-Allow-Origin: *` (no credentials are ever sent or allowed);
- every event is checked as the worker will check it (`connectors.storefront.schemas`): a batch
  with none valid is refused (400, each event's index and reason), otherwise the answer is 202
  with the refused ones.

A batch with a valid event is stored in the inbox as it came (the same bytes with the same key
are one delivery), then handed to the store's drain; with Redis down, the sweeper finds it.
The snippet itself is served here too, for a week of browser caching.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from flask import Blueprint, Response, current_app, g, request, send_from_directory
from sqlalchemy import select

from connectors.storefront.schemas import load_events, origin_of, read_batch
from connectors.storefront.source import TOPIC
from integration.ingest import inbox
from integration.store.models import Platform, Store, StoreState
from integration.store.types import utcnow
from integration.web.context import current_settings, db
from integration.web.limiter import Limiter, app_limiter
from integration.web.views.auth import fail
from integration.web.views.bodies import read_body
from jobs.ingest import request_drain

blueprint = Blueprint("collector", __name__)

MAX_BODY_BYTES = 64 * 1024  # what a browser lets all keepalive requests in flight carry together
SNIPPET = "storepulse.js"
SNIPPET_MAX_AGE = 7 * 24 * 3600
PREFLIGHT_MAX_AGE = 24 * 3600
KEPT_HEADERS = ("Origin", "User-Agent")


@blueprint.after_request
def _cors(response: Response) -> Response:
    """Every answer of the collector, refusals included, says which origin may read it."""
    allowed = g.get("collect_origin", "*")
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
    if allowed != "*":
        response.vary.add("Origin")
    response.headers["Cache-Control"] = response.headers.get("Cache-Control", "no-store")
    return response


@blueprint.route("/collect", methods=["OPTIONS"])
def preflight() -> Response:
    """Answer a preflight (a client posting `application/json`; the pixel and the snippet need none).
    Which origins may post is decided per key when the batch comes."""
    origin = request.headers.get("Origin")
    g.collect_origin = origin if origin and origin != "null" else "*"
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


@blueprint.post("/collect")
def collect() -> tuple[dict[str, Any], int]:
    """Take a batch of storefront events for the store whose public key it carries."""
    settings = current_settings()
    body = read_body(MAX_BODY_BYTES)
    _limit(
        "collect-address",
        request.remote_addr or "unknown",
        settings.collect_rate_per_address,
        settings.collect_burst_per_address,
        "from this address",
    )
    try:
        batch = read_batch(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(400, f"the body is not JSON: {exc}", "malformed")
    except RecursionError:
        fail(400, "the body nests too deeply to be a batch of events", "malformed")
    except ValueError as exc:
        fail(400, str(exc), "malformed")
    store = db.session.execute(
        select(Store.id, Store.platform, Store.shop_domain, Store.allowed_origins).where(
            Store.public_key == batch.key, Store.state == StoreState.CONNECTED
        )
    ).one_or_none()
    db.commit()  # no connection is held while the limits are asked
    if store is None:
        fail(401, "no connected store has this public key", "unknown_key")
    _check_origin(store.platform, store.allowed_origins)
    if store.platform == Platform.SHOPIFY and batch.shop and batch.shop.lower() != store.shop_domain:
        fail(403, "the public key belongs to another shop", "wrong_shop")
    _limit(
        "collect-key",
        store.id,
        settings.collect_rate_per_key,
        settings.collect_burst_per_key,
        "for this store",
    )
    kept, refused = load_events(batch.events, utcnow())
    if not kept:
        if not batch.events:
            return {"accepted": 0, "refused": []}, 202
        fail(400, "no event of the batch is valid", "invalid_events", errors={"events": refused})
    received = inbox.receive(
        db.session,
        source="storefront",
        topic=TOPIC,
        delivery_id="sha256:" + hashlib.sha256(batch.key.encode() + b"\n" + body).hexdigest(),
        body=body,
        store_id=store.id,
        headers={h: request.headers[h][:200] for h in KEPT_HEADERS if h in request.headers},
    )
    db.commit()  # the delivery is stored before it is handed on
    if received.new:
        request_drain(settings, "storefront", store.id)
    return {"accepted": len(kept), "refused": refused}, 202


@blueprint.get(f"/{SNIPPET}")
def snippet() -> Response:
    """The tracking snippet, cached by browsers and proxies for a week."""
    folder = current_app.root_path + "/static"  # integration/web/static, shipped with the package
    response = send_from_directory(folder, SNIPPET, max_age=SNIPPET_MAX_AGE, mimetype="text/javascript")
    response.headers["Cache-Control"] = f"public, max-age={SNIPPET_MAX_AGE}"
    return response


def _check_origin(platform: Platform, allowed: list[str] | None) -> None:
    """Refuse the snippet from an origin the store does not list; a Shopify store's pixel posts from
    Shopify's sandbox, from any origin."""
    if platform == Platform.SHOPIFY:
        g.collect_origin = "*"
        return
    sent = request.headers.get("Origin")
    origin = origin_of(sent) if sent else None
    if origin is None or origin not in (allowed or []):
        g.collect_origin = None  # the page may not read the refusal either
        shown = (sent or "none")[:100]
        fail(
            403,
            f"origin {shown} is not one the store lists for its tracking snippet",
            "origin_not_allowed",
        )
    g.collect_origin = origin


def _limit(name: str, key: int | str, rate: float, burst: int, sender: str) -> None:
    """Take a token of the bucket, or answer 429 with the seconds until there is one."""
    if rate <= 0:
        return
    settings = current_settings()
    limiter = app_limiter(name, lambda: Limiter(settings, name, rate, burst, "collector rate limits"))
    take = limiter.take(key)
    if take is not None and not take.allowed:
        seconds = max(1, math.ceil(take.retry_after))
        fail(
            429,
            f"too many requests {sender}; retry in {seconds} s",
            "rate_limited",
            headers={"Retry-After": str(seconds)},
        )
