"""Bodies sent with `Transfer-Encoding: chunked` to the web process as Procfile starts it (gunicorn).

A chunked body declares no length, so nothing can refuse it before reading; each endpoint reads
it as it arrives and answers 413 once it passes its limit, before the client has sent it all, and
stores nothing. The client here is a raw socket that stops sending as soon as an answer arrives,
as an HTTP client does; the server's peak memory (VmHWM of its one worker) shows it never held
the whole body.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from integration.accounts import add_email_source, create_api_key, email_webhook_path
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import EmailTool, InboxDelivery, Store
from tests.support.sendgrid import DER_B64
from tests.support.servers import START_SECONDS, STOP_SECONDS, reserved_port
from tests.support.shopify import API_KEY, APP_URL, SECRET, SHOP, raw
from webhooks.signatures import shopify_sign_body

MIB = 1024 * 1024
CHUNK = 64 * 1024
# Beyond every limit by more than the loopback's socket buffers (a few MiB each way) can hold.
EXCESS = 40 * MIB


@dataclass(frozen=True)
class Answer:
    status: int
    sent: int  # body bytes the client had sent when the answer came


@dataclass(frozen=True)
class Server:
    port: int
    worker: psutil.Process


@pytest.fixture
def server(shopify_settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """The web process started as Procfile starts it, with one worker."""
    env = {
        **os.environ,
        "DATABASE_URL": shopify_settings.database_url,
        "REDIS_URL": shopify_settings.redis_url or "",
        "SECRET_KEY": shopify_settings.secret_key,
        "STOREPULSE_ENCRYPTION_KEY": ",".join(shopify_settings.encryption_keys),
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": SECRET,
        "APP_URL": APP_URL,
        "STOREPULSE_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    with reserved_port() as port:
        web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                "integration.web.app:create_app()",
            ],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    break
                except OSError:
                    assert web.poll() is None, web.stderr.read() if web.stderr else ""
                    assert time.monotonic() < deadline, "the web process did not come up"
                    time.sleep(0.2)
            assert _post(port, "/ping", b"", {}).status == 200  # the worker has loaded the app
            [worker] = psutil.Process(web.pid).children()
            yield Server(port, worker)
        finally:
            web.terminate()
            web.communicate(timeout=STOP_SECONDS)


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> Answer:
    return _send(port, path, headers, [body])


def _chunked(port: int, path: str, headers: dict[str, str], size: int, method: str = "POST") -> Answer:
    """Send `size` bytes in chunks; stop sending as soon as the server answers."""
    pieces = (b"a" * min(CHUNK, size - offset) for offset in range(0, size, CHUNK))
    return _send(port, path, {**headers, "Transfer-Encoding": "chunked"}, pieces, chunked=True, method=method)


def _send(
    port: int,
    path: str,
    headers: dict[str, str],
    pieces: Iterator[bytes] | list[bytes],
    *,
    chunked: bool = False,
    method: str = "POST",
) -> Answer:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        if not chunked:
            headers = {**headers, "Content-Length": str(sum(len(p) for p in pieces))}  # type: ignore[arg-type]
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}\r\n".encode()
        )
        sent = 0
        frames = (
            (f"{len(p):x}\r\n".encode() + p + b"\r\n" if chunked else p, len(p)) for p in [*pieces, b""]
        )
        pending = b""
        answered = False
        for frame, length in frames:
            if not frame:
                break  # the end of a plain body
            pending = frame
            while pending:
                readable, writable, _ = select.select([sock], [sock], [], 60)
                if readable:
                    answered = True
                    break
                try:
                    pending = pending[sock.send(pending) :]
                except (BrokenPipeError, ConnectionResetError):
                    answered = True
                    break
            if answered:
                break
            sent += length
        return Answer(_status(sock), sent)
    finally:
        sock.close()


def _status(sock: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        data = sock.recv(65536)
        assert data, "the connection closed without an answer"
        answer += data
    return int(answer.split(b" ", 2)[1])


def _peak_rss(worker: psutil.Process) -> int:
    for line in Path(f"/proc/{worker.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _inbox(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(sql_select(func.count()).select_from(InboxDelivery)) or 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_chunked_bodies_over_each_public_limit_answer_413_early_and_store_nothing(
    server: Server, shopify_settings: Settings, shop: int
) -> None:
    with session_scope(shopify_settings.database_url) as session:
        store = session.get(Store, shop)
        assert store is not None
        sendgrid, _ = add_email_source(session, store.account_id, EmailTool.SENDGRID, "sg", DER_B64)
        mailchimp, secret = add_email_source(session, store.account_id, EmailTool.MAILCHIMP, "mc")
        _, token = create_api_key(session, store.account_id)
        sendgrid_path, mailchimp_path = email_webhook_path(sendgrid), email_webhook_path(mailchimp, secret)
    shopify_headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": shopify_sign_body(SECRET, b"{}"),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
    }
    keyed = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    endpoints = [
        ("/webhooks/shopify", shopify_headers, 10 * MIB),
        (sendgrid_path, {"Content-Type": "application/json"}, 10 * MIB),
        (mailchimp_path, {"Content-Type": "application/x-www-form-urlencoded"}, 1 * MIB),
        (f"/api/v1/stores/{shop}/orders", keyed, 32 * MIB),
        ("/api/v1/settings", keyed, 32 * MIB),
    ]
    for path, headers, limit in endpoints:
        before = _peak_rss(server.worker)
        method = "PUT" if path.endswith("/settings") else "POST"
        answer = _chunked(server.port, path, headers, limit + EXCESS, method)
        assert answer.status == 413, path
        # Answered once the limit was passed: the client had not sent it all, and the worker never
        # held much more than the limit (Python's bytearray may hold up to twice what it keeps).
        assert answer.sent < limit + EXCESS, path
        assert _peak_rss(server.worker) - before < 2 * limit + 16 * MIB, path
    assert _inbox(shopify_settings) == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_chunked_bodies_under_the_limit_are_read_whole(
    server: Server, shopify_settings: Settings, shop: int
) -> None:
    body = raw("orders_create")
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": shopify_sign_body(SECRET, body),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "Transfer-Encoding": "chunked",
    }
    pieces = [body[i : i + 100] for i in range(0, len(body), 100)]
    assert _send(server.port, "/webhooks/shopify", headers, pieces, chunked=True).status == 200
    with session_scope(shopify_settings.database_url) as session:
        stored = session.scalars(sql_select(InboxDelivery)).one()
        assert json.loads(stored.body) == json.loads(body)
        store = session.get(Store, shop)
        assert store is not None
        _, token = create_api_key(session, store.account_id)
    # The API buffers a keyed body before its views read it: they see it whole.
    batch = json.dumps(
        [{"id": "c1", "email": "a@example.com", "updated_at": "2026-06-01T00:00:00Z"}]
    ).encode()
    keyed = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    pieces = [batch[i : i + 10] for i in range(0, len(batch), 10)]
    assert _send(server.port, f"/api/v1/stores/{shop}/customers", keyed, pieces, chunked=True).status == 200
    settings = json.dumps({"abandonment_delay_minutes": 30}).encode()
    answer = _send(server.port, "/api/v1/settings", keyed, [settings], chunked=True, method="PUT")
    assert answer.status == 200
