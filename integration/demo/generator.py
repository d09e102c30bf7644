"""A realistic demo account from a seeded generator, fed through the same inbox path as real data.

Stores in EUR, USD and PLN over two years: contacts with a mix of subscription statuses, orders with
line items, checkouts (most completed, some abandoned and some of those recovered later), email
opens and clicks (some machine opens), product views, add-to-carts, hard and soft bounces, spam
complaints, unsubscribes, and email and letter campaigns with sends and QR scans.

A third store is a WooCommerce shop (PLN) whose customers and orders arrive as its webhooks
(`integration.demo.woocommerce`). The EUR store is a Shopify store, the USD store a shop with the
tracking snippet: the last day's
storefront visits arrive as the Shopify pixel and the snippet post them (`storefront`), from
logged-in customers, from visitors tied later by a checkout (Shopify) or an identified address
(snippet), and from visitors never tied. Some of the visitors are customers who had gone quiet:
their views make them engaged again.
"""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from integration.demo import woocommerce
from integration.store.types import utcnow

FIRST = (
    "anna jan petra tomas eva martin lucie jakub olivia noah emma liam mia lucas ella leo sofia max".split()
)
LAST = "novak svoboda dvorak cerna smith jones brown miller davis garcia wilson moore taylor white".split()
PRODUCTS = [
    ("Linen shirt", "29.90"),
    ("Wool scarf", "24.50"),
    ("Canvas tote", "14.90"),
    ("Leather belt", "39.00"),
    ("Silk tie", "34.00"),
    ("Denim jacket", "89.00"),
    ("Cotton socks", "7.90"),
    ("Rain coat", "119.00"),
    ("Knit beanie", "19.90"),
    ("Chino trousers", "59.00"),
    ("Sneakers", "79.00"),
    ("Sunglasses", "49.00"),
    ("Backpack", "69.00"),
    ("Wallet", "29.00"),
    ("Watch strap", "22.00"),
    ("Gift card", "50.00"),
]
SHIPPING = Decimal("4.90")
BATCH = 1000


@dataclass
class DemoData:
    """Generated records per store, as JSON-ready dicts in the API source's documented shapes."""

    stores: list[dict[str, str]]
    phases: list[dict[int, dict[str, list[dict[str, Any]]]]] = field(default_factory=list)
    # Per store, the batches its storefront posted in the last day (the collector's wire format).
    storefront: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # Per phase, the WooCommerce shop's webhook deliveries: (topic, body), one record each.
    woocommerce: list[list[tuple[str, dict[str, Any]]]] = field(default_factory=lambda: [[], []])

    def deliveries(self, phase: int, run: str) -> Iterator[tuple[int, str, str, bytes, int]]:
        """Yield (store index, topic, delivery id, body, record count) in dependency order."""
        for store_index, topics in self.phases[phase].items():
            for topic in ("customers", "campaigns", "checkouts", "orders", "events", "campaign_sends"):
                records = topics.get(topic, [])
                for n, start in enumerate(range(0, len(records), BATCH)):
                    part = records[start : start + BATCH]
                    body = json.dumps(part, separators=(",", ":")).encode()
                    yield store_index, topic, f"demo-{run}-{phase}-{store_index}-{topic}-{n}", body, len(part)

    def count(self, phase: int | None = None) -> int:
        """Records to deliver in a phase (or in all), the WooCommerce shop's included."""
        phases = self.phases if phase is None else [self.phases[phase]]
        shop = self.woocommerce if phase is None else [self.woocommerce[phase]]
        return sum(len(r) for p in phases for topics in p.values() for r in topics.values()) + sum(
            len(p) for p in shop
        )


def _iso(at: datetime) -> str:
    return at.isoformat()


def generate(contacts: int = 5000, seed: int = 7, now: datetime | None = None) -> DemoData:
    """Generate the demo data set; the same seed and `now` give the same data."""
    rng = random.Random(seed)
    now = (now or utcnow()).replace(microsecond=0)
    start = now - timedelta(days=730)
    stores = [
        {
            "name": "Demo Boutique EU",
            "currency": "EUR",
            "time_zone": "Europe/Prague",
            "platform": "shopify",
            "shop_domain": "demo-boutique-eu.myshopify.com",
        },
        {"name": "Demo Boutique US", "currency": "USD", "time_zone": "America/New_York", "platform": "api"},
        {
            "name": "Demo Boutique PL",
            "currency": "PLN",
            "time_zone": "Europe/Warsaw",
            "platform": "woocommerce",
            "shop_domain": "https://demo-boutique-pl.example",
        },
    ]
    # Phase 0: what arrives first; phase 1: orders, which recover some carts abandoned in between.
    data = DemoData(stores=stores, phases=[{0: {}, 1: {}}, {0: {}, 1: {}}], storefront={0: [], 1: []})
    visits = random.Random(seed + 1)  # its own stream: the history above stays as it was

    def add(phase: int, store: int, topic: str, record: dict[str, Any]) -> None:
        data.phases[phase][store].setdefault(topic, []).append(record)

    campaigns = _campaigns(rng, start, now)
    for store in (0, 1):
        for c in campaigns:
            add(0, store, "campaigns", {k: v for k, v in c.items() if k != "sent_at"})
    sequence = {"event": 0, "order": 1000, "checkout": 0}

    for i in range(contacts):
        store = 0 if rng.random() < 0.7 else 1
        home = [store] + ([1 - store] if rng.random() < 0.05 else [])  # a few shop in both stores
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{i}@example.com"
        created = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
        active_until = min(now, created + timedelta(days=rng.expovariate(1 / 260)))
        roll = rng.random()
        status = "subscribed" if roll < 0.55 else "unknown" if roll < 0.85 else "unsubscribed"
        for s in home:
            add(
                0,
                s,
                "customers",
                {
                    "id": f"cust-{s}-{i}",
                    "email": email,
                    "first_name": first.title(),
                    "last_name": last.title(),
                    "subscription_status": status,
                    "subscription_changed_at": _iso(created),
                    "created_at": _iso(created),
                    "updated_at": _iso(created + timedelta(minutes=5)),
                    "tags": ["vip"] if rng.random() < 0.05 else [],
                },
            )

        def event(kind: str, at: datetime, s: int = store, who: int = i, **extra: Any) -> None:
            sequence["event"] += 1
            record = {"event_id": f"demo-ev-{sequence['event']}", "customer_id": f"cust-{s}-{who}"}
            add(0, s, "events", {**record, "type": kind, "occurred_at": _iso(at), **extra})

        def moment(after: datetime, before: datetime) -> datetime:
            return after + timedelta(seconds=rng.uniform(0, max(1.0, (before - after).total_seconds())))

        for _ in range(_poisson(rng, 5)):
            at, product = moment(created, active_until), rng.randrange(len(PRODUCTS))
            event("product_view", at, product_id=f"p{product}")
            if rng.random() < 0.25:
                event("add_to_cart", at + timedelta(minutes=2), product_id=f"p{product}")
        if rng.random() < 0.55:
            for _ in range(1 + _poisson(rng, 1.3)):
                _order(rng, add, sequence, store, i, email, moment(created, active_until), now)
        for _ in range(1 if rng.random() < 0.35 else 0):
            _abandoned_cart(rng, add, sequence, store, i, email, moment(created, now), now)
        quiet = active_until < now - timedelta(days=200)
        if visits.random() < (0.15 if quiet else 0.06):
            data.storefront[store].append(_visit(visits, store, i, email, now))
        roll = rng.random()
        if roll < 0.015:
            event("bounce", moment(created, now), bounce_type="hard")
        elif roll < 0.045:
            event("bounce", moment(created, now), bounce_type="soft")
        elif roll < 0.049:
            event("spam_complaint", moment(created, now))
        if status == "subscribed" and rng.random() < 0.04:
            event("unsubscribe", moment(created, now))
        for c in campaigns:
            if c["sent_at"] < created or rng.random() > 0.6:
                continue
            letter = c["channel"] == "letter"
            if letter and rng.random() > 0.12 or not letter and status != "subscribed":
                continue
            sent = c["sent_at"]
            returned = letter and rng.random() < 0.03
            add(
                0,
                store,
                "campaign_sends",
                {
                    "campaign_id": c["id"],
                    "customer_id": f"cust-{store}-{i}",
                    "sent_at": _iso(sent),
                    "status": "returned" if returned else "delivered",
                    **(
                        {"returned_at": _iso(sent + timedelta(days=6))}
                        if returned
                        else {"delivered_at": _iso(sent + timedelta(hours=2 if not letter else 72))}
                    ),
                },
            )
            active = sent <= active_until
            if letter:
                if not returned and active and rng.random() < 0.1:
                    event("qr_scan", sent + timedelta(days=rng.uniform(3, 12)), campaign_id=c["id"])
                continue
            if rng.random() < 0.08:
                event("email_open", sent + timedelta(minutes=1), campaign_id=c["id"], machine_open=True)
            if active and rng.random() < 0.4:
                opened = sent + timedelta(hours=rng.uniform(0.2, 48))
                event("email_open", opened, campaign_id=c["id"])
                if rng.random() < 0.3:
                    event("email_click", opened + timedelta(minutes=1), campaign_id=c["id"])
    data.woocommerce = woocommerce.deliveries(data.phases[0][0].get("customers", []), PRODUCTS, seed, now)
    return data


def _visit(rng: random.Random, store: int, i: int, email: str, now: datetime) -> dict[str, Any]:
    """One visitor's storefront session within the last day, as one batch the pixel (store 0) or
    the snippet (store 1) posts: a page view, product views and perhaps an add-to-cart, and how the
    visitor is known: logged in, tied by a checkout or an address later, or not at all."""
    at = now - timedelta(hours=rng.uniform(1, 20))
    visitor = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    customer = f"gid://shopify/Customer/cust-{store}-{i}"
    how = rng.choices(("logged_in", "tied_later", "anonymous"), (0.4, 0.35, 0.25))[0]
    events: list[dict[str, Any]] = []

    def add(kind: str, minutes: float, **extra: Any) -> None:
        events.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": kind,
                "at": _iso(at + timedelta(minutes=minutes)),
                "visitor": visitor,
                "url": f"https://demo-boutique-{'eu' if store == 0 else 'us'}.example/",
                **({"customer_id": customer} if how == "logged_in" and store == 0 else {}),
                **extra,
            }
        )

    add("page_view", 0)
    for n in range(1 + _poisson(rng, 1.5)):
        title, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
        product = {"product_id": f"p{PRODUCTS.index((title, price))}", "title": title, "price": price}
        add("product_view", 1 + 2 * n, **product, currency=("EUR", "USD")[store])
        if rng.random() < 0.3:
            add("add_to_cart", 2 + 2 * n, **product, currency=("EUR", "USD")[store], quantity=1)
    if how == "tied_later" and store == 0:  # the same browser checks out: Shopify names the buyer
        token = f"pixel-checkout-{store}-{i}"
        add("checkout_completed", 30, checkout_token=token, customer_id=customer)
    elif how != "anonymous" and store == 1:  # the shop's sign-in or newsletter form identifies them
        add("identify", 30, email=email)
    source = "shopify_pixel" if store == 0 else "snippet"
    shop = {"shop": "demo-boutique-eu.myshopify.com"} if store == 0 else {}
    return {"key": "", "source": source, **shop, "events": events}


def _campaigns(rng: random.Random, start: datetime, now: datetime) -> list[dict[str, Any]]:
    campaigns = []
    for n in range(14):
        sent = start + timedelta(days=25 + n * 50 + rng.uniform(0, 10))
        if sent > now:
            break
        letter = n in (5, 11)
        name = f"{'Catalogue letter' if letter else 'Newsletter'} {sent:%B %Y}"
        preview = (
            {"preview_pdf_base64": _tiny_pdf(name)}
            if letter
            else {"preview_html": f"<html><body><h1>{name}</h1><p>New arrivals and offers.</p></body></html>"}
        )
        campaigns.append(
            {
                "id": f"demo-campaign-{n}",
                "channel": "letter" if letter else "email",
                "name": name,
                "created_at": _iso(sent - timedelta(days=2)),
                "sent_at": sent,
                **preview,
            }
        )
    return campaigns


def _line_items(rng: random.Random) -> tuple[list[dict[str, Any]], Decimal]:
    items, total = [], Decimal(0)
    for product in rng.sample(range(len(PRODUCTS)), rng.randint(1, 3)):
        title, price = PRODUCTS[product]
        quantity = 1 if rng.random() < 0.8 else 2
        items.append(
            {
                "product_id": f"p{product}",
                "sku": f"SKU-{product:03d}",
                "title": title,
                "quantity": quantity,
                "price": price,
            }
        )
        total += Decimal(price) * quantity
    return items, total


def _order_record(
    seq: dict[str, int],
    store: int,
    i: int,
    email: str,
    items: list[dict[str, Any]],
    subtotal: Decimal,
    **fields: Any,
) -> dict[str, Any]:
    """An order of contact `i` in `store` with these line items; `fields` add to or override the rest."""
    seq["order"] += 1
    return {
        "id": f"ord-{store}-{seq['order']}", "number": str(seq["order"]), "name": f"#{seq['order']}",
        "customer_id": f"cust-{store}-{i}", "email": email, "financial_status": "paid",
        "currency": ("EUR", "USD")[store], "subtotal_price": str(subtotal), "total_shipping": str(SHIPPING),
        "total_price": str(subtotal + SHIPPING), "line_items": items, **fields,
    }  # fmt: skip


def _checkout_record(
    store: int, i: int, email: str, token: str, items: list[dict[str, Any]], total: Decimal, **fields: Any
) -> dict[str, Any]:
    """A checkout of contact `i` in `store`; `fields` carry its times."""
    return {
        "token": token, "customer_id": f"cust-{store}-{i}", "email": email, "currency": ("EUR", "USD")[store],
        "total_price": str(total), "line_items": items, **fields,
    }  # fmt: skip


def _order(rng: random.Random, add: Any, seq: dict[str, int], store: int, i: int, email: str,
           at: datetime, now: datetime) -> None:  # fmt: skip
    """An order, most of them through a checkout completed at once."""
    items, subtotal = _line_items(rng)
    roll = rng.random()
    financial = "voided" if roll < 0.01 else "refunded" if roll < 0.03 else "paid"
    cancelled = _iso(at + timedelta(minutes=30)) if roll > 0.97 else None
    token = f"chk-{store}-{seq['order'] + 1}" if rng.random() < 0.7 else None
    if token:
        seq["checkout"] += 1
        times = {
            "created_at": _iso(at - timedelta(minutes=6)),
            "updated_at": _iso(at),
            "completed_at": _iso(at),
        }
        add(
            0,
            store,
            "checkouts",
            _checkout_record(store, i, email, token, items, subtotal + SHIPPING, **times),
        )
    updated = _iso(min(now, at + timedelta(hours=1)))
    state = {"financial_status": financial, "cancelled_at": cancelled, "checkout_token": token}
    record = _order_record(
        seq, store, i, email, items, subtotal, created_at=_iso(at), updated_at=updated, **state
    )
    add(1, store, "orders", record)


def _abandoned_cart(rng: random.Random, add: Any, seq: dict[str, int], store: int, i: int, email: str,
                    at: datetime, now: datetime) -> None:  # fmt: skip
    """A checkout left open; some are recovered days later through the recovery link."""
    seq["checkout"] += 1
    token = f"cart-{store}-{seq['checkout']}"
    items, subtotal = _line_items(rng)
    times = {"created_at": _iso(at - timedelta(minutes=3)), "updated_at": _iso(at)}
    url = f"https://demo-boutique.example/checkouts/{token}/recover"
    add(
        0,
        store,
        "checkouts",
        _checkout_record(store, i, email, token, items, subtotal, recovery_url=url, **times),
    )
    later = at + timedelta(days=rng.uniform(0.5, 4))
    if rng.random() < 0.18 and later < now:
        add(1, store, "orders", _order_record(seq, store, i, email, items, subtotal, created_at=_iso(later),
                                              updated_at=_iso(later), checkout_token=token))  # fmt: skip


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _tiny_pdf(title: str) -> str:
    text = title.replace("(", "").replace(")", "")
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return base64.b64encode(bytes(out)).decode()


def new_run_id() -> str:
    """Return a fresh id for one demo run's deliveries (re-running the demo is not a redelivery)."""
    return uuid.uuid4().hex[:12]
