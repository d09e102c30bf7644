"""A customer and an order as a client posts them to the records API."""

from __future__ import annotations

CUSTOMER = {
    "id": "c1",
    "email": "Ann@Example.com",
    "first_name": "Ann",
    "updated_at": "2026-06-01T10:00:00+02:00",
    "subscription_status": "subscribed",
}
ORDER = {
    "id": "1001",
    "customer_id": "c1",
    "created_at": "2026-06-02T09:00:00Z",
    "updated_at": "2026-06-02T09:00:00Z",
    "currency": "EUR",
    "total_price": "29.90",
    "line_items": [{"title": "Shirt", "quantity": 1, "price": "29.90"}],
}
