"""Where a webhook destination may send: public https only (unless the installation allows private
addresses), checked at every request, connected to the checked address, redirects not followed.

Receivers here are real servers on this machine; names are answered by patching the resolver.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from connectors.http import check_url, public_address
from integration import sync
from integration.errors import AddressRefused
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import DestinationKind, Sync
from tests.sync_helpers import PUBLIC_ADDRESS, Audience, add_sync, audience, runner

SECRET = "whsec_0123456789abcdef"


@dataclass
class Receiver:
    """A webhook receiver on this machine: what it was sent, and what it answers."""

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def receiver(
    family: socket.AddressFamily = socket.AF_INET, tls: ssl.SSLContext | None = None
) -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.requests.append({"path": self.path, "host": self.headers["Host"], "body": body})
            self.send_response(got.status)
            for name, value in {"Content-Type": "application/json", **got.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = family

    server = Server(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0), Handler)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: got.server_names.append(name)  # type: ignore[assignment]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    got.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Certificates:
    ca: Path
    hooks_test: ssl.SSLContext  # a server certificate for hooks.test, issued by the CA
    other_test: ssl.SSLContext  # one for another name, from the same CA


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def issue(name: str, issuer: tuple[Any, x509.Name] | None) -> tuple[Any, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer[1] if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        )
        if issuer is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())

    ca_key, ca = issue("storepulse test CA", None)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def server_context(name: str) -> ssl.SSLContext:
        key, certificate = issue(name, (ca_key, ca.subject))
        (folder / f"{name}.pem").write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / f"{name}.pem")
        return context

    return Certificates(folder / "ca.pem", server_context("hooks.test"), server_context("other.test"))


@pytest.fixture
def shop(settings: Settings) -> Audience:
    return audience(settings, 3)


def allowing(settings: Settings) -> Settings:
    """The settings of an installation that lets webhooks reach its own network."""
    return settings.with_overrides({"webhook_allow_private": True})


def sync_state(settings: Settings, sync_id: int) -> tuple[str, str | None]:
    with session_scope(settings.database_url) as session:
        row = session.get(Sync, sync_id)
        assert row is not None
        return row.status, row.last_error


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104 - refused, not bound
        "10.0.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fd00:ec2::254",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_addresses_off_the_public_internet_are_refused(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))
    url = f"https://[{address}]/in" if ":" in address else f"https://{address}/in"
    with pytest.raises(AddressRefused) as refused:
        check_url(url, allow_private=False)
    assert refused.value.reason == "url_not_public"
    assert check_url(url, allow_private=True)  # an installation may allow them


@pytest.mark.parametrize(
    "address",
    [PUBLIC_ADDRESS, "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"],
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    assert public_address(mapped) == public_address(nat64) == public_address(address)
    if not public_address(address):  # a 6to4 address leads there too
        assert not public_address(ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1))


@responses.activate
def test_a_name_that_now_resolves_inside_stops_the_sync_before_anything_is_sent(
    settings: Settings, shop: Audience, dns: dict[str, list[str]]
) -> None:
    url = "https://hooks.example.com/in"
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
    hook = responses.post(url, json={})
    dns["hooks.example.com"] = [PUBLIC_ADDRESS, "10.0.0.5"]  # the name was moved inside
    run = runner(settings, [])(sync_id)
    assert run["status"] == "stopped"
    assert "10.0.0.5" in run["error"]
    assert "url_not_public" in run["error"]
    assert hook.call_count == 0
    status, error = sync_state(settings, sync_id)
    assert (status, error) == ("stopped", run["error"])
    # Not retried: a stopped sync waits until its destination's settings change.
    assert sync.run(settings.database_url, sync_id, lambda target: pytest.fail("opened")) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/in", "url_not_https"),
        ("https://127.0.0.1:{port}/in", "url_not_public"),
        ("https://localhost:{port}/in", "url_not_public"),
    ],
)
def test_a_destination_saved_before_the_check_reaches_nothing_inside(
    settings: Settings, shop: Audience, url: str, reason: str
) -> None:
    with receiver() as inside:
        target = url.format(port=inside.port)
        # Saved as earlier versions allowed (the API refuses it now).
        sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": target}, {"secret": SECRET})
        run = runner(settings, [])(sync_id)
    assert run["status"] == "stopped"
    assert reason in run["error"]
    assert inside.requests == []


def test_an_installation_allowing_private_addresses_posts_to_its_own_network(
    settings: Settings, shop: Audience
) -> None:
    with receiver() as inside:
        url = f"http://127.0.0.1:{inside.port}/in"
        sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    [received] = inside.requests
    assert len(json.loads(received["body"])["adds"]) == 3


def test_a_redirect_is_not_followed(settings: Settings, shop: Audience) -> None:
    with receiver() as inside:
        inside.status, inside.headers = 307, {"Location": "/elsewhere"}
        url = f"http://127.0.0.1:{inside.port}/in"
        sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert [r["path"] for r in inside.requests] == ["/in"]
    assert (run["adds"], run["failed"]) == (0, 3)
    assert "307" in run["errors"][0]["error"]


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_connection_goes_to_the_checked_address_and_tls_checks_the_name(
    settings: Settings,
    shop: Audience,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    family: socket.AddressFamily,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca))
    real = socket.getaddrinfo
    lookups: list[str] = []

    with receiver(family, certificates.hooks_test) as inside:
        checked = "::1" if family == socket.AF_INET6 else "127.0.0.1"

        def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "hooks.test":
                return real(host, port, *args, **kwargs)
            lookups.append(host)
            # The first answer is checked; any later one would lead elsewhere (DNS rebinding).
            address = checked if len(lookups) == 1 else "10.255.255.1"
            return real(address, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        url = f"https://hooks.test:{inside.port}/in"
        sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    assert lookups == ["hooks.test"]  # resolved once, for the check; connected to that answer
    [received] = inside.requests
    assert received["host"] == f"hooks.test:{inside.port}"
    assert inside.server_names == ["hooks.test"]


def test_a_certificate_for_another_name_is_refused(
    settings: Settings,
    shop: Audience,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    dns: dict[str, list[str]],
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca))
    dns["hooks.test"] = ["127.0.0.1"]
    with receiver(tls=certificates.other_test) as inside:
        url = f"https://hooks.test:{inside.port}/in"
        sync_id = add_sync(settings, shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert run["adds"] == 0
    assert "certificate" in run["errors"][0]["error"].lower()
    assert inside.requests == []
