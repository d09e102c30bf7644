"""The demo's WooCommerce shop (PLN): webhook deliveries as WooCommerce sends them.

Some of the EU store's customers have also registered in the Polish WooCommerce shop (the same
people, so no contact is made twice); others buy there as guests, known by their billing address.
Orders carry WooCommerce's statuses (completed, processing, on-hold, refunded, cancelled, failed).
Block-checkout drafts arrive first: most are abandoned, and some become orders later (the same
order id, placed days after), which makes them recovered carts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

# (status, weight): WooCommerce's order statuses as a shop sees them over time.
STATUSES = (
    ("completed", 70),
    ("processing", 10),
    ("on-hold", 4),
    ("refunded", 6),
    ("cancelled", 6),
    ("failed", 4),
)
PLN_PER_EUR = Decimal("4.30")
SHARE = 0.25  # of the EU store's customers who also shop here
GUEST_SHARE = 0.4  # of them, without an account in the shop
DRAFT_SHARE = 0.2  # who leave a checkout draft in the last three weeks
PLACED_SHARE = 0.35  # of those drafts, placed later


def _time(at: datetime) -> str:
    """A `_gmt` time as WooCommerce writes it: UTC, to the second, without a zone."""
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def _lines(
    rng: random.Random, order_id: int, products: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], Decimal]:
    lines, total = [], Decimal(0)
    for n, index in enumerate(rng.sample(range(len(products)), rng.randint(1, 3))):
        title, euros = products[index]
        price = (Decimal(euros) * PLN_PER_EUR).quantize(Decimal("1"))
        quantity = 1 if rng.random() < 0.8 else 2
        amount = price * quantity
        lines.append(
            {
                "id": order_id * 10 + n,
                "name": title,
                "product_id": 100 + index,
                "variation_id": 0,
                "quantity": quantity,
                "sku": f"PL-{index:03d}",
                "subtotal": f"{amount:.2f}",
                "total": f"{amount:.2f}",
                "price": float(price),
            }
        )
        total += amount
    return lines, total


def _order(
    order_id: int,
    status: str,
    created: datetime,
    modified: datetime,
    customer: dict[str, Any],
    lines: list[dict[str, Any]],
    total: Decimal,
) -> dict[str, Any]:
    shipping = Decimal("14.99") if total < 200 else Decimal(0)
    whole = total + shipping
    return {
        "id": order_id,
        "number": str(order_id),
        "status": status,
        "currency": "PLN",
        "date_created_gmt": _time(created),
        "date_modified_gmt": _time(modified),
        "discount_total": "0.00",
        "shipping_total": f"{shipping:.2f}",
        "total_tax": "0.00",
        "total": f"{whole:.2f}",
        "customer_id": customer["id"],
        "billing": {
            "first_name": customer["first_name"],
            "last_name": customer["last_name"],
            "email": customer["email"],
            "phone": "",
        },
        "line_items": lines,
        "refunds": [{"id": order_id + 500_000, "total": f"-{whole:.2f}"}] if status == "refunded" else [],
    }


def deliveries(
    customers: list[dict[str, Any]], products: list[tuple[str, str]], seed: int, now: datetime
) -> list[list[tuple[str, dict[str, Any]]]]:
    """The shop's webhook deliveries in two phases, each (topic, body): customers and checkout drafts
    first, then orders (some of them the drafts, placed)."""
    rng = random.Random(seed + 2)  # its own stream: the other stores' history stays as it was
    phases: list[list[tuple[str, dict[str, Any]]]] = [[], []]
    order_id = 40_000
    for n, source in enumerate(c for c in customers if rng.random() < SHARE):
        created = datetime.fromisoformat(source["created_at"])
        guest = rng.random() < GUEST_SHARE
        person = {
            "id": 0 if guest else 900 + n,
            "email": source["email"],
            "first_name": source["first_name"],
            "last_name": source["last_name"],
        }
        if not guest:
            phases[0].append(
                (
                    "customer.created",
                    {
                        **person,
                        "date_created_gmt": _time(created),
                        "date_modified_gmt": _time(created),
                        "role": "customer",
                        "billing": {
                            "first_name": person["first_name"],
                            "last_name": person["last_name"],
                            "email": person["email"],
                            "phone": "",
                        },
                    },
                )
            )
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            order_id += 1
            placed = created + timedelta(seconds=rng.uniform(0, max(1.0, (now - created).total_seconds())))
            status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
            lines, total = _lines(rng, order_id, products)
            changed = min(now, placed + timedelta(hours=rng.uniform(0.1, 72)))
            phases[1].append(
                ("order.created", _order(order_id, status, placed, changed, person, lines, total))
            )
        if rng.random() < DRAFT_SHARE:
            order_id += 1
            started = now - timedelta(days=rng.uniform(2, 21))
            lines, total = _lines(rng, order_id, products)
            draft = _order(
                order_id, "checkout-draft", started, started + timedelta(minutes=4), person, lines, total
            )
            phases[0].append(("order.updated", draft))
            if rng.random() < PLACED_SHARE:
                placed = min(now - timedelta(hours=1), started + timedelta(days=rng.uniform(1, 3)))
                order = _order(
                    order_id, "processing", placed, placed + timedelta(minutes=2), person, lines, total
                )
                phases[1].append(("order.updated", order))
    return phases
