"""Billbee's documented payloads (tests/fixtures/billbee), and a stand-in of its API on loopback.

The stand-in answers `GET /api/v1/orders` (`page`, `pageSize` up to 250, `modifiedAtMin`) and
`GET /api/v1/customers` in Billbee's shapes (`Data` beside `Paging`), checks the developer key
and the user's Basic credentials (401 otherwise), and enforces Billbee's documented limit: more
than 2 requests to one endpoint within a second, for a key and user, answer 429 with
`Retry-After: 1`. It records every request (endpoint, arrival time, page, status).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "billbee"
API_KEY = "bb-developer-key"
LOGIN = "merchant@example.com"
PASSWORD = "api-password-1"
LIMIT = 2  # requests per endpoint per second (Billbee's documented limit)


def document(name: str, **changes: Any) -> dict[str, Any]:
    """A documented payload (`order`, `customer`), with some values changed."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return {**copy.deepcopy(loaded), **changes}


def order(
    number: int, email: str, *, modified: str = "2026-11-02T10:00:00+00:00", **changes: Any
) -> dict[str, Any]:
    """The documented order as Billbee order `number` of customer `email`, last modified at `modified`."""
    made = document(
        "order", BillBeeOrderId=number, OrderNumber=f"BB-{number}", LastModifiedAt=modified, **changes
    )
    made["Customer"] = {**made["Customer"], "Id": 500_000 + number % 10_000, "Email": email}
    made["Buyer"] = {**made["Buyer"], "Email": email}
    return made


@dataclass
class Request:
    endpoint: str
    at: float
    page: int
    status: int
    query: dict[str, str]


@dataclass
class StandIn:
    """The stand-in's state: its data, failures to answer next, and what it was asked."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    failing: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    password: str = PASSWORD
    limit: int = LIMIT
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    recent: dict[str, deque[float]] = field(default_factory=dict)

    def answer(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, dict[str, str], bytes]:
        endpoint = path.removeprefix("/api/v1/").split("/")[0]
        now = time.monotonic()
        page = int(query.get("page", "1"))
        with self.lock:
            status = self._status(endpoint, headers, now)
            self.requests.append(Request(endpoint, now, page, status, query))
        if status == 429:
            return 429, {"Retry-After": "1"}, b'{"Message": "Too many requests"}'
        if status != 200:
            return status, {}, json.dumps({"ErrorCode": 1, "ErrorMessage": "no"}).encode()
        items = self.orders if endpoint == "orders" else self.customers
        if endpoint == "orders" and query.get("modifiedAtMin"):
            since = datetime.fromisoformat(query["modifiedAtMin"].replace("Z", "+00:00"))
            items = [o for o in items if datetime.fromisoformat(o["LastModifiedAt"]) >= since]
        size = min(250, int(query.get("pageSize", "50")))
        chunk = items[(page - 1) * size : page * size]
        paging = {
            "Page": page,
            "TotalPages": -(-len(items) // size),
            "TotalRows": len(items),
            "PageSize": size,
        }
        return (
            200,
            {},
            json.dumps({"Paging": paging, "ErrorMessage": None, "ErrorCode": 0, "Data": chunk}).encode(),
        )

    def _status(self, endpoint: str, headers: Any, now: float) -> int:
        if self.failing.get(endpoint):
            return self.failing[endpoint].pop(0)
        basic = "Basic " + base64.b64encode(f"{LOGIN}:{self.password}".encode()).decode()
        if headers.get("X-Billbee-Api-Key") != API_KEY or headers.get("Authorization") != basic:
            return 401
        window = self.recent.setdefault(endpoint, deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.limit:
            return 429
        window.append(now)
        return 200

    def most_in_a_second(self, endpoint: str) -> int:
        """The most requests to `endpoint` that arrived within any one second."""
        times = sorted(r.at for r in self.requests if r.endpoint == endpoint)
        return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)


def serve(stand_in: StandIn) -> ThreadingHTTPServer:
    """Serve the stand-in on a loopback port (a daemon thread); set its `url` (…/api/v1)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            status, headers, body = stand_in.answer(parts.path, dict(parse_qsl(parts.query)), self.headers)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.url = f"http://127.0.0.1:{server.server_port}/api/v1"
    return server
