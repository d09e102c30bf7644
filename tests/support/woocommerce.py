"""WooCommerce's documented payloads (tests/fixtures/woocommerce), for tests to change and send, and
a shop's REST API answering in those shapes."""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

FIXTURES = Path(__file__).parents[1] / "fixtures" / "woocommerce"


def document(name: str, **changes: Any) -> dict[str, Any]:
    """A documented payload (`order_727`, `order_723`, `customer_25`), with some values changed."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return {**copy.deepcopy(loaded), **changes}


SHOP_URL = "https://shop.example"
SHOP_ADDRESS = "93.184.215.14"  # a public address the `dns` fixture answers for the shop's name
KEY = "ck_" + "a" * 40
SECRET = "cs_" + "b" * 40


def order(
    number: int, email: str, *, modified: str = "2026-11-02T10:00:00", **changes: Any
) -> dict[str, Any]:
    """Order 727 of the documentation as order `number` of `email` (a guest's), modified at `modified`."""
    made = document("order_727", id=number, number=str(number), date_modified_gmt=modified, **changes)
    made["billing"] = {**made["billing"], "email": email}
    made["line_items"] = [{**line, "id": number * 10 + i} for i, line in enumerate(made["line_items"])]
    return made


def customer(number: int, email: str, **changes: Any) -> dict[str, Any]:
    """Customer 25 of the documentation as customer `number` with `email`."""
    made = document("customer_25", id=number, email=email, **changes)
    made["billing"] = {**made["billing"], "email": email}
    return made


@dataclass
class Shop:
    """A WooCommerce shop as its REST API answers (through `responses`, in the documented shapes):
    collections paged by `page` / `per_page` with `X-WP-TotalPages`, webhooks listed, created and
    changed, the WordPress index and the shop's currency. `failing` makes the next calls to a path
    answer that status; `calls` lists each request's path and query."""

    mock: responses.RequestsMock
    url: str = SHOP_URL
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    failing: dict[str, list[int]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    key: str = KEY
    currency: str = "EUR"
    zone: str = "Europe/Madrid"

    def __post_init__(self) -> None:
        api = re.compile(re.escape(self.url) + r"/wp-json/wc/v3/(.+?)(\?.*)?$")
        for method in ("GET", "POST", "PUT"):
            self.mock.add_callback(method, api, callback=self._api)
        index = {"name": "Shop Example", "url": self.url, "timezone_string": self.zone, "gmt_offset": 1}
        self.mock.add(responses.GET, self.url + "/wp-json/", json=index)

    def _api(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        path = parts.path.split("/wp-json/wc/v3/", 1)[1]
        query = dict(parse_qsl(parts.query))
        self.calls.append((f"{request.method} {path}", query))
        if self.failing.get(path):
            status = self.failing[path].pop(0)
            return (
                status,
                {"Content-Type": "application/json"},
                json.dumps({"code": "error", "message": "no"}),
            )
        auth = request.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{self.key}:{SECRET}".encode()).decode():
            body = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."}
            return 401, {"Content-Type": "application/json"}, json.dumps(body)
        if path == "data/currencies/current":
            return 200, {}, json.dumps({"code": self.currency, "name": "Euro", "symbol": "&euro;"})
        if request.method == "GET" and path in ("customers", "orders", "webhooks"):
            items = {"customers": self.customers, "orders": self.orders, "webhooks": self.webhooks}[path]
            if "modified_after" in query:
                items = [i for i in items if i["date_modified_gmt"] > query["modified_after"]]
            per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
            total_pages = -(-len(items) // per_page)
            chunk = items[(page - 1) * per_page : page * per_page]
            headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(total_pages)}
            return 200, headers, json.dumps(chunk)
        if request.method == "POST" and path == "webhooks":
            sent = json.loads(request.body)
            hook = {
                "id": 100 + len(self.webhooks),
                "status": sent.get("status", "active"),
                "name": sent["name"],
                "topic": sent["topic"],
                "delivery_url": sent["delivery_url"],
                "secret_set": sent["secret"],  # write-only in WooCommerce: kept here for the test to see
            }
            self.webhooks.append(hook)
            return 201, {}, json.dumps({k: v for k, v in hook.items() if k != "secret_set"})
        if request.method == "PUT" and path.startswith("webhooks/"):
            hook = next(h for h in self.webhooks if h["id"] == int(path.split("/")[1]))
            sent = json.loads(request.body)
            hook.update(
                status=sent.get("status", hook["status"]), secret_set=sent.get("secret", hook["secret_set"])
            )
            return 200, {}, json.dumps({k: v for k, v in hook.items() if k != "secret_set"})
        return 404, {}, json.dumps({"code": "rest_no_route", "message": "No route was found."})
