"""The storm's seeded stream of Shopify deliveries, and the store it should leave: pure functions.

`build_stream` makes customers, orders and carts with versions on a timeline in the past, in
Shopify's documented payload shapes (the reference samples under tests/fixtures/shopify/reference),
then the deliveries that carry them: genuine ones signed with the app's secret, forged ones (wrong
secret, a body changed after signing, no signature) and malformed ones (signed, but not JSON or not
a valid payload). Each genuine delivery may be sent twice (the same `X-Shopify-Webhook-Id`), and
send times are jittered so that versions arrive out of order.

`expected_state` reads only what was sent and accepted (a 200), never the product's code: per
customer its newest version, per order its newest version, per cart the outcome of its timeline.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from webhooks.signatures import shopify_sign_body

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "shopify" / "reference"
SHOP = "storm-shop.myshopify.com"
SECRET = "shpss_storm_secret_0123456789"
FORGER_SECRET = "shpss_not_the_apps_secret_000"
EMAIL_DOMAIN = "storm.example"

# The account's abandonment delay: small, and the timeline keeps every outcome clear of its edges.
DELAY = timedelta(minutes=10)
RECOVERY = timedelta(days=7)  # the account's recovery window (the product's default)

COMPLETED, RECOVERED, ABANDONED = "completed", "recovered", "abandoned"
GENUINE, FORGED, MALFORMED = "genuine", "forged", "malformed"

# Shares of the deliveries (the rest are genuine), and of genuine deliveries sent twice.
FORGED_SHARE = 0.03
MALFORMED_SHARE = 0.03
DUPLICATE_SHARE = 0.08


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as Shopify (or a forger) would send it."""

    webhook_id: str
    topic: str
    body: bytes
    signature: str | None
    kind: str  # GENUINE, FORGED or MALFORMED
    entity: tuple[str, str]  # ("customer" | "order" | "checkout", its id or token)
    version: int
    triggered_at: str
    marker: str | None = None  # a forged or malformed delivery's email: never to be found in the store


@dataclass
class Stream:
    """The deliveries in send order (with resends), and the entities they describe."""

    deliveries: list[Delivery]
    sends: list[tuple[float, int]]  # (position in the stream, 0..1; index into deliveries), resends too
    customers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> versions
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checkouts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # token -> versions
    cart_orders: dict[str, str] = field(default_factory=dict)  # checkout token -> order id
    intended: dict[str, str] = field(default_factory=dict)  # checkout token -> outcome it was built for
    markers: set[str] = field(default_factory=set)
    forged_ids: set[str] = field(default_factory=set)
    malformed_ids: set[str] = field(default_factory=set)
    foreign_ids: dict[str, set[str]] = field(default_factory=dict)  # kind -> ids only forged/malformed use


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / f"{name}.json").read_text())
    return data


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


class _Builder:
    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.base = (now - timedelta(days=40)).replace(microsecond=0)
        self.customer_sample = _sample("customers_create")
        self.order_sample = _sample("orders_create")
        self.checkout_sample = _sample("checkouts_create")
        self.serial = 0

    def webhook_id(self) -> str:
        self.serial += 1
        return f"storm-{self.seed}-{self.serial:07d}"

    def customer(self, cid: str, version: int, at: datetime, email: str) -> dict[str, Any]:
        body = copy.deepcopy(self.customer_sample)
        first, last = f"First{cid[-5:]}v{version}", f"Last{cid[-5:]}"
        body.update(
            id=int(cid),
            email=email,
            first_name=first,
            last_name=last,
            created_at=_iso(self.base),
            updated_at=_iso(at),
            admin_graphql_api_id=f"gid://shopify/Customer/{cid}",
            # The consent rides along (as before API 2025-01), so no read of the customer follows.
            email_marketing_consent={
                "state": "subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": _iso(self.base),
            },
        )
        body["default_address"] = {**body["default_address"], "customer_id": int(cid)}
        return body

    def line_items(self, products: list[int]) -> list[dict[str, Any]]:
        template = self.order_sample["line_items"][0]
        items = []
        for n, product in enumerate(products):
            item = copy.deepcopy(template)
            item.update(
                id=int(f"{product}{n:02d}"),
                product_id=product,
                sku=f"SKU-{product}",
                title=f"Product {product}",
                name=f"Product {product}",
                price=f"{10 + product % 50}.00",
                quantity=1 + product % 3,
            )
            items.append(item)
        return items

    def order(
        self,
        oid: str,
        at: datetime,
        updated: datetime,
        customer: tuple[str, str],
        products: list[int],
        status: str,
        token: str | None = None,
        cart: str | None = None,
    ) -> dict[str, Any]:
        body = copy.deepcopy(self.order_sample)
        items = self.line_items(products)
        total = sum((Decimal(i["price"]) * i["quantity"] for i in items), Decimal(0))
        cid, email = customer
        body.update(
            id=int(oid),
            admin_graphql_api_id=f"gid://shopify/Order/{oid}",
            name=f"#S{oid[-6:]}",
            order_number=int(oid[-6:]),
            email=email,
            contact_email=email,
            created_at=_iso(at),
            processed_at=_iso(at),
            updated_at=_iso(updated),
            cancelled_at=None,
            cancel_reason=None,
            closed_at=None,
            financial_status=status,
            test=False,
            checkout_token=token,
            cart_token=cart,
            total_price=f"{total:.2f}",
            subtotal_price=f"{total:.2f}",
            total_discounts="0.00",
            total_tax="0.00",
            line_items=items,
            refunds=[],
        )
        body["customer"] = {**body["customer"], "id": int(cid), "email": email}
        return body

    def checkout(
        self,
        token: str,
        cart: str,
        created: datetime,
        updated: datetime,
        customer: tuple[str, str],
        products: list[int],
    ) -> dict[str, Any]:
        body = copy.deepcopy(self.checkout_sample)
        items = self.line_items(products)
        for item in items:  # the checkout's line items have no ids of their own in Shopify's shape
            item.pop("id", None)
        total = sum((Decimal(i["price"]) * i["quantity"] for i in items), Decimal(0))
        cid, email = customer
        body.update(
            token=token,
            cart_token=cart,
            email=email,
            created_at=_iso(created),
            updated_at=_iso(updated),
            completed_at=None,
            closed_at=None,
            line_items=items,
            total_price=f"{total:.2f}",
            subtotal_price=f"{total:.2f}",
            total_line_items_price=f"{total:.2f}",
        )
        body["customer"] = {**body["customer"], "id": int(cid), "email": email}
        return body


def build_stream(count: int, seed: int, now: datetime) -> Stream:
    """A seeded stream of about `count` distinct deliveries (resends of the same id come on top)."""
    b = _Builder(seed, now)
    rng = b.rng
    stream = Stream(deliveries=[], sends=[])
    genuine_target = int(count * (1 - FORGED_SHARE - MALFORMED_SHARE))
    pending: list[tuple[str, dict[str, Any], tuple[str, str], int, datetime]] = []

    customers: list[tuple[str, str]] = []  # (id, newest email)
    cart_serial = order_serial = 0
    base_customer = 5_000_000_000 + seed * 1_000_000
    base_order = 6_000_000_000 + seed * 1_000_000
    # Roughly: a customer (2 deliveries) has an order (2) and a cart (3-4): ~8 per customer.
    while len(pending) < genuine_target:
        n = len(customers)
        cid = str(base_customer + n)
        created = b.base + timedelta(minutes=rng.randrange(0, 2 * 24 * 60))
        versions = 1 + rng.randrange(3)
        versions_of = stream.customers.setdefault(cid, [])
        email = ""
        for v in range(versions):
            at = created + timedelta(hours=v * 3)
            email = f"c{cid}.v{v}@{EMAIL_DOMAIN}" if v == 0 or rng.random() < 0.5 else email
            body = b.customer(cid, v, at, email)
            versions_of.append(body)
            topic = "customers/create" if v == 0 else "customers/update"
            pending.append((topic, body, ("customer", cid), v, at))
        customers.append((cid, email))
        who = (cid, email)
        # A plain order (no cart, products no checkout holds), with its updates.
        if rng.random() < 0.7:
            order_serial += 1
            oid = str(base_order + order_serial)
            at = b.base + timedelta(days=3, minutes=rng.randrange(0, 10 * 24 * 60))
            products = [2000 + rng.randrange(500) for _ in range(1 + rng.randrange(3))]
            for v, status in enumerate(("pending", "paid", "paid")[: 1 + rng.randrange(3)]):
                updated = at + timedelta(hours=v * 2)
                body = b.order(oid, at, updated, who, products, status)
                stream.orders.setdefault(oid, []).append(body)
                topic = "orders/create" if v == 0 else "orders/updated"
                pending.append((topic, body, ("order", oid), v, updated))
        # A cart, built to end completed, recovered or abandoned (some abandoned ones get a late order).
        if rng.random() < 0.8:
            cart_serial += 1
            token = f"storm{seed}t{cart_serial:06d}"
            cart = f"storm{seed}k{cart_serial:06d}"
            outcome = rng.choice((COMPLETED, RECOVERED, ABANDONED))
            stream.intended[token] = outcome
            opened = b.base + timedelta(days=3, minutes=rng.randrange(0, 10 * 24 * 60))
            products = [1000 + rng.randrange(500) for _ in range(1 + rng.randrange(2))]
            last = opened
            for v in range(1 + rng.randrange(3)):
                last = last + timedelta(minutes=rng.randrange(3, 60)) if v else opened
                body = b.checkout(token, cart, opened, last, who, products)
                stream.checkouts.setdefault(token, []).append(body)
                topic = "checkouts/create" if v == 0 else "checkouts/update"
                pending.append((topic, body, ("checkout", token), v, last))
            ordered: datetime | None = None
            if outcome == COMPLETED:
                ordered = last + timedelta(minutes=rng.randrange(1, 8))
            elif outcome == RECOVERED:
                ordered = last + DELAY + timedelta(hours=1 + rng.randrange(6 * 24 - 2))
            elif rng.random() < 0.3:
                ordered = last + DELAY + RECOVERY + timedelta(days=1 + rng.randrange(2))
            if ordered is not None:
                order_serial += 1
                oid = str(base_order + order_serial)
                stream.cart_orders[token] = oid
                for v in range(1 + rng.randrange(2)):
                    updated = ordered + timedelta(hours=v)
                    body = b.order(oid, ordered, updated, who, products, "paid", token=token, cart=cart)
                    stream.orders.setdefault(oid, []).append(body)
                    topic = "orders/create" if v == 0 else "orders/updated"
                    pending.append((topic, body, ("order", oid), v, updated))

    # Deliveries in the order of the timeline, then each sent at its place in the stream, jittered.
    pending.sort(key=lambda p: p[4])
    for topic, body, entity, version, at in pending[:genuine_target]:
        raw = json.dumps(body).encode()
        stream.deliveries.append(
            Delivery(
                b.webhook_id(), topic, raw, shopify_sign_body(SECRET, raw), GENUINE, entity, version, _iso(at)
            )
        )
    cut = {d.entity for d in stream.deliveries}
    _drop_unsent(stream, cut)
    extras = count - len(stream.deliveries)
    for n in range(extras):
        stream.deliveries.append(_forged(b, n // 2, customers) if n % 2 == 0 else _malformed(b, n // 2))
    for d in stream.deliveries:
        if d.marker:
            stream.markers.add(d.marker)
        if d.kind == FORGED:
            stream.forged_ids.add(d.webhook_id)
        elif d.kind == MALFORMED:
            stream.malformed_ids.add(d.webhook_id)
        if d.kind != GENUINE and d.entity[1] not in stream.customers | stream.orders | stream.checkouts:
            stream.foreign_ids.setdefault(d.entity[0], set()).add(d.entity[1])
    total = len(stream.deliveries)
    # Timeline order with jitter of a few percent of the stream: updates overtake their creates.
    order = sorted(range(total), key=lambda i: _position(i, total, b.rng, stream.deliveries[i].kind))
    for rank, i in enumerate(order):
        place = rank / max(total, 1)
        stream.sends.append((place, i))
        if stream.deliveries[i].kind == GENUINE and rng.random() < DUPLICATE_SHARE:
            stream.sends.append((min(1.0, place + rng.uniform(0.001, 0.1)), i))  # the same id again
    stream.sends.sort()
    return stream


def _position(index: int, total: int, rng: random.Random, kind: str) -> float:
    if kind != GENUINE:
        return rng.random() * total
    return index + rng.gauss(0, max(3.0, total * 0.02))


def _drop_unsent(stream: Stream, sent: set[tuple[str, str]]) -> None:
    """Forget the entities the stream was cut before (their deliveries were not made)."""
    for kind, versions in (
        ("customer", stream.customers),
        ("order", stream.orders),
        ("checkout", stream.checkouts),
    ):
        for key in [k for k in versions if (kind, k) not in sent]:
            del versions[key]
    for token in [t for t in stream.intended if ("checkout", t) not in sent]:
        del stream.intended[token]
    for token, oid in list(stream.cart_orders.items()):
        if ("order", oid) not in sent:
            del stream.cart_orders[token]
            if token in stream.intended:
                stream.intended[token] = ABANDONED  # its order was never sent


def _forged(b: _Builder, n: int, customers: list[tuple[str, str]]) -> Delivery:
    """A delivery not signed with the app's secret: a new customer, or a newer version of a real one."""
    marker = f"forged-{b.seed}-{n}@{EMAIL_DOMAIN}"
    late = b.base + timedelta(days=39)
    if n % 4 == 0 and customers:
        cid = customers[b.rng.randrange(len(customers))][0]
        topic = "customers/update"
    else:
        cid = str(7_000_000_000 + b.seed * 1_000_000 + n)
        topic = "customers/create"
    raw = json.dumps(b.customer(cid, 9, late, marker)).encode()
    how = n % 3
    if how == 0:
        signature: str | None = shopify_sign_body(FORGER_SECRET, raw)
    elif how == 1:  # signed, then changed in transit
        signature = shopify_sign_body(SECRET, raw)
        raw = raw.replace(b"subscribed", b"subscribeD", 1)
    else:
        signature = None
    return Delivery(b.webhook_id(), topic, raw, signature, FORGED, ("customer", cid), 9, _iso(late), marker)


def _malformed(b: _Builder, n: int) -> Delivery:
    """A delivery signed with the app's secret whose body is not JSON, or not a valid payload."""
    marker = f"malformed-{b.seed}-{n}@{EMAIL_DOMAIN}"
    at = b.base + timedelta(days=1)
    oid = str(8_000_000_000 + b.seed * 1_000_000 + n)  # an id no genuine delivery uses
    how = n % 4
    if how == 1:
        raw = json.dumps(b.order(oid, at, at, ("1", marker), [3000], "paid")).encode()[:-40]  # cut short
        topic, entity = "orders/create", ("order", oid)
    elif how == 3:
        body = b.order(oid, at, at, ("1", marker), [3000], "paid")
        body["total_price"] = "a lot"
        raw, topic, entity = json.dumps(body).encode(), "orders/create", ("order", oid)
    else:
        body = b.customer(oid, 0, at, marker)
        body["updated_at"] = "yesterday"
        raw, topic, entity = json.dumps(body).encode(), "customers/create", ("customer", oid)
    return Delivery(
        b.webhook_id(), topic, raw, shopify_sign_body(SECRET, raw), MALFORMED, entity, 0, _iso(at), marker
    )


@dataclass
class Expected:
    customers: dict[str, dict[str, Any]]  # id -> newest delivered version's email and names
    orders: dict[str, dict[str, Any]]  # id -> newest delivered version's fields
    carts: dict[str, str]  # token -> outcome by the timeline


def expected_state(stream: Stream, delivered: set[str]) -> Expected:
    """The store the accepted genuine deliveries should leave, read from the payloads alone."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for d in stream.deliveries:
        if d.kind != GENUINE or d.webhook_id not in delivered:
            continue
        body = json.loads(d.body)
        held = newest.get(d.entity)
        if held is None or _time(body["updated_at"]) > _time(held["updated_at"]):
            newest[d.entity] = body
    customers = {
        key: {"email": b["email"], "first_name": b["first_name"], "last_name": b["last_name"]}
        for (kind, key), b in newest.items()
        if kind == "customer"
    }
    orders = {
        key: {
            "updated_at": _time(b["updated_at"]),
            "total_price": Decimal(b["total_price"]),
            "financial_status": b["financial_status"],
            "line_items": len(b["line_items"]),
            "checkout_token": b["checkout_token"],
        }
        for (kind, key), b in newest.items()
        if kind == "order"
    }
    carts = {}
    for (kind, token), checkout in newest.items():
        if kind != "checkout":
            continue
        oid = stream.cart_orders.get(token)
        order = newest.get(("order", oid)) if oid else None
        carts[token] = cart_outcome(
            _time(checkout["created_at"]),
            _time(checkout["updated_at"]),
            _time(order["processed_at"] or order["created_at"]) if order else None,
        )
    return Expected(customers, orders, carts)


def cart_outcome(created: datetime, last_activity: datetime, ordered: datetime | None) -> str:
    """A cart's outcome by its timeline: completed by the abandonment time, recovered within the window."""
    if ordered is None or ordered < created:
        return ABANDONED
    abandoned_at = last_activity + DELAY
    if ordered <= abandoned_at:
        return COMPLETED
    if ordered <= abandoned_at + RECOVERY:
        return RECOVERED
    return ABANDONED


def _time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))
