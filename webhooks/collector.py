"""The storefront collector: `POST /collect`, where the Shopify pixel and the tracking snippet post.

It is public, so it bounds everything it reads before it reads it:
- the body is read as it arrives, at most MAX_BODY_BYTES (413 beyond);
- each client address has a token bucket (429 with `Retry-After`), checked before the store is
  looked up; each store's public key has another, checked once the key is known;
- the key is the store's public key (401 when no connected store has it): it can add events to
  its own store and do nothing else. Each web process remembers which store a key names for
  KEY_CACHE_SECONDS, so a disconnected store's key, or a change of a store's origins, takes
  effect within that time;
- the snippet is taken only from the origins the merchant listed for the store (403 otherwise),
  and the answer's CORS headers name that origin; the Shopify pixel runs in Shopify's sandbox,
  whose origin is Shopify's, so a Shopify store's key is taken from any origin with
  `Access-Control-Allow-Origin: *` (no credentials are ever sent or allowed);
- every event is checked as the worker will check it (`connectors.storefront.schemas`): a batch
  with none valid is refused (400, each event's index and reason), otherwise the answer is 202
  with the refused ones. A quick check that builds nothing passes the plain batches the pixel and
  the snippet send; the schema reads only those it cannot vouch for, to say what it refuses.

A batch with a valid event is stored in the inbox as it came (the same bytes with the same key
are one delivery), then handed to the store's drain; with Redis down, the sweeper finds it.
The snippet itself is served here too, for a week of browser caching.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, request, send_from_directory
from sqlalchemy import select

from connectors.storefront.schemas import load_events, origin_of, read_batch, surely_kept
from connectors.storefront.source import TOPIC
from integration.store.models import Platform, Store, StoreState
from integration.store.types import utcnow
from integration.web.context import current_settings, db
from integration.web.limiter import Limiter, app_limiter
from integration.web.views.auth import fail
from integration.web.views.bodies import read_body
from webhooks.cache import CACHE_SECONDS, TimedCache, process_cache
from webhooks.intake import store_and_hand_on

blueprint = Blueprint("collector", __name__)

MAX_BODY_BYTES = 64 * 1024  # what a browser lets all keepalive requests in flight carry together
SNIPPET = "storepulse.js"
SNIPPET_MAX_AGE = 7 * 24 * 3600
PREFLIGHT_MAX_AGE = 24 * 3600
KEPT_HEADERS = ("Origin", "User-Agent")
KEY_CACHE_SECONDS = CACHE_SECONDS  # how long a process trusts what it read of a public key's store


@dataclass(frozen=True)
class KeyHolder:
    """What the collector needs of the connected store a public key names."""

    id: int
    platform: Platform
    shop_domain: str | None
    allowed_origins: tuple[str, ...]


# Which connected store each public key names (None for none), as read at most KEY_CACHE_SECONDS ago.
KeyCache = TimedCache[str, KeyHolder | None]
KEYS = "storepulse.collector.keys"


def key_cache() -> KeyCache:
    """This web process's KeyCache."""
    return process_cache(KEYS)


def _read_holder(key: str) -> KeyHolder | None:
    row = db.session.execute(
        select(Store.id, Store.platform, Store.shop_domain, Store.allowed_origins).where(
            Store.public_key == key, Store.state == StoreState.CONNECTED
        )
    ).one_or_none()
    db.commit()  # no connection is held while the limits are asked
    if row is None:
        return None
    return KeyHolder(row.id, row.platform, row.shop_domain, tuple(row.allowed_origins or ()))


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
    store = key_cache().get(batch.key, _read_holder)
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
    received_at = utcnow()
    refused: list[dict[str, Any]] = []
    if surely_kept(batch.events, received_at, body):
        accepted = len(batch.events)
    else:
        kept, refused = load_events(batch.events, received_at)
        accepted = len(kept)
    if not accepted:
        if not batch.events:
            return {"accepted": 0, "refused": []}, 202
        fail(400, "no event of the batch is valid", "invalid_events", errors={"events": refused})
    # Stored (committed, outside the request's session, with the deliveries of the requests served
    # meanwhile) and handed on before the answer.
    store_and_hand_on(
        settings,
        source="storefront",
        topic=TOPIC,
        delivery_id="sha256:" + hashlib.sha256(batch.key.encode() + b"\n" + body).hexdigest(),
        body=body,
        store_id=store.id,
        headers={h: request.headers[h][:200] for h in KEPT_HEADERS if h in request.headers},
    )
    return {"accepted": accepted, "refused": refused}, 202


@blueprint.get(f"/{SNIPPET}")
def snippet() -> Response:
    """The tracking snippet, cached by browsers and proxies for a week."""
    folder = current_app.root_path + "/static"  # integration/web/static, shipped with the package
    response = send_from_directory(folder, SNIPPET, max_age=SNIPPET_MAX_AGE, mimetype="text/javascript")
    response.headers["Cache-Control"] = f"public, max-age={SNIPPET_MAX_AGE}"
    return response


def _check_origin(platform: Platform, allowed: tuple[str, ...]) -> None:
    """Refuse the snippet from an origin the store does not list; a Shopify store's pixel posts from
    Shopify's sandbox, from any origin."""
    if platform == Platform.SHOPIFY:
        g.collect_origin = "*"
        return
    sent = request.headers.get("Origin")
    origin = origin_of(sent) if sent else None
    if origin is None or origin not in allowed:
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
