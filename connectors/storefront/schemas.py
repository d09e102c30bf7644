"""What the collector takes: a batch of storefront events posted with a store's public key.

The Shopify pixel (`extensions/storepulse-pixel`) and the tracking snippet
(`integration/web/static/storepulse.js`) post the same shape as `text/plain` JSON:

    {"key": "pk_...", "source": "shopify_pixel" | "snippet", "shop": "x.myshopify.com" (pixel),
     "events": [{"id", "type", "at", "visitor", "customer_id", "url", "product_id", "variant_id",
                 "sku", "title", "price", "currency", "quantity", "checkout_token", "order_id",
                 "email"}, ...]}

Every event is read alone: one that breaks a rule is reported by its index with the reason and
the others are kept. Times are bounded by when the batch arrived: at most MAX_AHEAD later (browser
clocks drift) and at most MAX_AGE earlier (the pixel and the snippet send within seconds; an older
event is a replay). Shopify's global ids are read as their numeric ids, the form orders and
customers carry in the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from connectors.inbound import load_each
from connectors.times import UTCTime
from integration.contract import STOREFRONT_KINDS, StorefrontRecord

MAX_EVENTS = 50  # per request: the pixel sends at most 20, the snippet 20
MAX_AHEAD = timedelta(minutes=5)
MAX_AGE = timedelta(days=1)
SOURCES = ("shopify_pixel", "snippet")
GID_PREFIX = "gid://shopify/"
PRODUCT_KINDS = frozenset({"product_view", "add_to_cart"})
MAX_PRICE = Decimal(10) ** 12
MAX_ORIGINS = 20  # origins a store may list for its snippet


def origin_of(value: str) -> str | None:
    """An origin as browsers send it (`scheme://host[:port]`, lower case, default port left out);
    None when `value` is not an http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def plain_id(value: str | None) -> str | None:
    """A Shopify global id (`gid://shopify/Product/42`) as its own id (`42`); other ids unchanged."""
    if value and value.startswith(GID_PREFIX):
        return value.rsplit("/", 1)[-1].split("?", 1)[0] or None
    return value


def _text(limit: int, **kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=limit), load_default=None, **kwargs)


class EventSchema(Schema):
    """One storefront event as the pixel or the snippet sends it."""

    class Meta:
        unknown = EXCLUDE  # a newer pixel may send more: what is not read here is not stored

    id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(required=True, validate=validate.OneOf(STOREFRONT_KINDS))
    at = UTCTime(required=True)
    visitor = fields.String(required=True, validate=validate.Length(min=1, max=100))
    customer_id = _text(100)
    url = _text(2000)
    product_id = _text(100)
    variant_id = _text(100)
    sku = _text(100)
    title = _text(300)
    price = fields.Decimal(
        allow_none=True, load_default=None, allow_nan=False, validate=validate.Range(0, MAX_PRICE)
    )
    currency = fields.String(allow_none=True, load_default=None, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    quantity = fields.Integer(
        allow_none=True, load_default=None, strict=True, validate=validate.Range(1, 10_000)
    )
    checkout_token = _text(100)
    order_id = _text(100)
    email = _text(320)

    @validates_schema
    def _needs(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["type"] in PRODUCT_KINDS and not data.get("product_id"):
            raise ValidationError(f"a {data['type']} names its product", "product_id")
        if data["type"] == "identify" and not data.get("email"):
            raise ValidationError("an identify event carries the address it claims", "email")

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> StorefrontRecord:
        attributes = {
            name: value
            for name, value in (
                ("url", data["url"]),
                ("variant_id", plain_id(data["variant_id"])),
                ("sku", data["sku"]),
                ("title", data["title"]),
                ("price", None if data["price"] is None else str(data["price"])),
                ("currency", data["currency"].upper() if data["currency"] else None),
                ("quantity", data["quantity"]),
                ("order_id", plain_id(data["order_id"])),
            )
            if value is not None
        }
        return StorefrontRecord(
            event_id=data["id"],
            kind=data["type"],
            occurred_at=data["at"],
            visitor=data["visitor"],
            customer_id=plain_id(data["customer_id"]),
            checkout_token=data["checkout_token"],
            product_id=plain_id(data["product_id"]),
            attributes=attributes,
            email=data["email"].strip() if data["type"] == "identify" and data["email"] else None,
        )


class Batch:
    """A posted batch: its key, who sent it, and its events read one by one."""

    def __init__(self, key: str, source: str, shop: str | None, events: list[Any]) -> None:
        self.key, self.source, self.shop, self.events = key, source, shop, events


def read_batch(payload: Any) -> Batch:
    """The batch's envelope; ValueError with the reason when it is not one."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object with key and events")
    key, source, shop, events = (payload.get(name) for name in ("key", "source", "shop", "events"))
    if not isinstance(key, str) or not 1 <= len(key) <= 100:
        raise ValueError("key: the store's public key is required")
    if source not in SOURCES:
        raise ValueError(f"source: must be one of {', '.join(SOURCES)}")
    if shop is not None and (not isinstance(shop, str) or len(shop) > 255):
        raise ValueError("shop: must be the shop's myshopify domain")
    if not isinstance(events, list):
        raise ValueError("events: must be a list of events")
    if len(events) > MAX_EVENTS:
        raise ValueError(f"events: at most {MAX_EVENTS} events per request")
    return Batch(key, source, shop, events)


def load_events(
    events: list[Any], received_at: datetime
) -> tuple[list[tuple[int, StorefrontRecord]], list[dict[str, Any]]]:
    """Each event loaded alone: (index, record) for those kept, and for each other one why not."""
    loaded, skipped = load_each(events, EventSchema(), noun="event")
    kept: list[tuple[int, StorefrontRecord]] = []
    latest, earliest = received_at + MAX_AHEAD, received_at - MAX_AGE
    for index, record in loaded:
        if record.occurred_at > latest:
            reason = f"is more than {int(MAX_AHEAD.total_seconds()) // 60} minutes after its receipt"
        elif record.occurred_at < earliest:
            reason = "is more than a day before its receipt"
        else:
            kept.append((index, record))
            continue
        skipped.append({"index": index, "errors": {"at": [f"{record.occurred_at.isoformat()} {reason}"]}})
    skipped.sort(key=lambda s: s["index"])
    return kept, skipped
