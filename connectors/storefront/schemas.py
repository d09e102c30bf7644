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

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from connectors.inbound import load_each, text_problem
from connectors.times import EARLIEST, LATEST, UTCTime
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


def _text_bounds() -> dict[str, tuple[int, int, bool]]:
    """Each length-bounded text field of EventSchema: (shortest, longest, required)."""
    bounds = {}
    for name, field in EventSchema._declared_fields.items():
        lengths = [v for v in field.validators if isinstance(v, validate.Length)]
        if type(field) is fields.String and lengths and lengths[0].max is not None:
            bounds[name] = (lengths[0].min or 0, lengths[0].max, field.required)
    return bounds


TEXT_BOUNDS = _text_bounds()
KINDS = frozenset(STOREFRONT_KINDS)
PRICE_TEXT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")  # below 10**12 whatever the decimals
CURRENCY = re.compile(r"[A-Za-z]{3}")


def surely_kept(events: list[Any], received_at: datetime, body: bytes) -> bool:
    """Whether load_events would keep every event of a batch, decided without building records.

    The collector asks this first and load_events only when it says False, for the reasons. It is
    a sufficient check, never a looser one: True only for events of the plain shapes the pixel and
    the snippet send, each field of the type and within the bounds EventSchema and the time window
    take. Anything else (a number written as text with spaces, an unusual time format) is left to
    the schema, which may still keep it. `body` is the batch as posted: a body without `\\u`
    escapes holds no NUL or lone surrogate, the text the store cannot hold, so its strings need
    no closer look.
    """
    earliest = max(EARLIEST, received_at - MAX_AGE)
    latest = received_at + MAX_AHEAD
    escaped = b"\\u" in body
    return all(
        _surely_valid(event, earliest, latest) and not (escaped and text_problem(event) is not None)
        for event in events
    )


def _surely_valid(event: Any, earliest: datetime, latest: datetime) -> bool:
    """One event of the plain shape, of the types and within the bounds EventSchema keeps."""
    if type(event) is not dict:
        return False
    for name, (shortest, longest, required) in TEXT_BOUNDS.items():
        text = event.get(name)
        if text is None:
            if required:
                return False
        elif type(text) is not str or not shortest <= len(text) <= longest:
            return False
    kind = event.get("type")
    if type(kind) is not str or kind not in KINDS:
        return False
    if kind in PRODUCT_KINDS and not event.get("product_id"):
        return False
    if kind == "identify" and not event.get("email"):
        return False
    price, currency, quantity = event.get("price"), event.get("currency"), event.get("quantity")
    if price is not None and not _surely_price(price):
        return False
    if currency is not None and not (type(currency) is str and CURRENCY.fullmatch(currency)):
        return False
    if quantity is not None and not (type(quantity) is int and 1 <= quantity <= 10_000):
        return False
    at = event.get("at")
    if type(at) is not str:
        return False
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            return False
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return earliest <= moment <= latest and moment < LATEST


def _surely_price(price: Any) -> bool:
    if type(price) is str:
        return PRICE_TEXT.fullmatch(price) is not None
    return type(price) in (int, float) and 0 <= price <= MAX_PRICE  # NaN and infinities are not
