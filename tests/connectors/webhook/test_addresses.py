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

from connectors.addresses import check_url, public_address
from connectors.http import Http
from connectors.webhook.destination import SignedWebhook
from integration import contract
from integration.audiences import sync
from integration.errors import AddressRefused
from integration.settings import Settings
from integration.store import session_scope
from integration.store.models import DestinationKind, Sync
from tests.support.syncs import PUBLIC_ADDRESS, Audience, add_sync, runner

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


@dataclass
class Listener:
    port: int
    received: list[bytes] = field(default_factory=list)  # what each connection sent


@contextmanager
def listener() -> Iterator[Listener]:
    """A TCP listener on this machine that records what each connection to it sends, and answers nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    got = Listener(server.getsockname()[1])
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    got.received.append(connection.recv(65536))
                except OSError:
                    got.received.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        stop.set()
        thread.join()
        server.close()


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


# The contacts of `audience_shop`.
pytestmark = pytest.mark.audience(3)


def allowing(settings: Settings, ca_bundle: Path | None = None) -> Settings:
    """The settings of an installation that lets webhooks reach its own network (and trusts its CA)."""
    return settings.with_overrides(
        {"webhook_allow_private": True, "ca_bundle": str(ca_bundle) if ca_bundle else None}
    )


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


NEAREST_PUBLIC_BELOW_FC00 = "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"  # all between is reserved

# IANA's IPv4 and IPv6 Special-Purpose Address Registries, the blocks not globally reachable (with
# multicast, the rest of IPv6's ::/8 and deprecated site-local), each with the public addresses
# nearest to it: next to it where there are, else the nearest (reserved space lies between).
NOT_GLOBAL = [
    ("0.0.0.0/8", ["1.0.0.0"]),
    ("10.0.0.0/8", ["9.255.255.255", "11.0.0.0"]),
    ("100.64.0.0/10", ["100.63.255.255", "100.128.0.0"]),
    ("127.0.0.0/8", ["126.255.255.255", "128.0.0.0"]),
    ("169.254.0.0/16", ["169.253.255.255", "169.255.0.0"]),
    ("172.16.0.0/12", ["172.15.255.255", "172.32.0.0"]),
    ("192.0.0.0/24", ["191.255.255.255", "192.0.1.0"]),
    ("192.0.2.0/24", ["192.0.1.255", "192.0.3.0"]),
    ("192.88.99.0/24", ["192.88.98.255", "192.88.100.0"]),
    ("192.168.0.0/16", ["192.167.255.255", "192.169.0.0"]),
    ("198.18.0.0/15", ["198.17.255.255", "198.20.0.0"]),
    ("198.51.100.0/24", ["198.51.99.255", "198.51.101.0"]),
    ("203.0.113.0/24", ["203.0.112.255", "203.0.114.0"]),
    ("224.0.0.0/4", ["223.255.255.255"]),
    ("240.0.0.0/4", ["223.255.255.255"]),
    ("255.255.255.255/32", ["223.255.255.255"]),
    ("::/128", ["::ffff:1.0.0.0"]),
    ("::1/128", ["::ffff:1.0.0.0"]),
    ("::/8", ["::ffff:1.0.0.0", "64:ff9b::1.0.0.0", "2000::"]),  # mapped and NAT64 are carved out
    ("64:ff9b:1::/48", ["64:ff9b::223.255.255.255", "2000::"]),
    ("100::/64", ["2000::"]),
    ("100:0:0:1::/64", ["2000::"]),
    ("2001::/23", ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::"]),
    ("2001::/32", ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),  # Teredo, whatever it carries
    ("2001:2::/48", ["2001:200::"]),
    ("2001:10::/28", ["2001:200::"]),
    ("2001:db8::/32", ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"]),
    ("3fff::/20", ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"]),
    ("5f00::/16", ["3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
    ("fc00::/7", [NEAREST_PUBLIC_BELOW_FC00]),
    ("fe80::/10", [NEAREST_PUBLIC_BELOW_FC00]),
    ("fec0::/10", [NEAREST_PUBLIC_BELOW_FC00]),
    ("ff00::/8", [NEAREST_PUBLIC_BELOW_FC00]),
]
# Blocks judged by the IPv4 address they carry: their first and last carry 0.0.0.0 and
# 255.255.255.255; public addresses inside them carry public IPv4 addresses.
EMBEDDING = [
    ("::ffff:0:0/96", ["::ffff:1.0.0.0", "::ffff:223.255.255.255"]),
    ("64:ff9b::/96", ["64:ff9b::1.0.0.0", "64:ff9b::223.255.255.255"]),
    ("2002::/16", ["2002:101:101::", "2003::"]),
]
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # IANA's IPv6 address space: the rest is reserved


def _literal_url(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"https://[{address}]/in" if address.version == 6 else f"https://{address}/in"


@pytest.mark.parametrize(("block", "neighbours"), NOT_GLOBAL + EMBEDDING, ids=lambda v: str(v))
def test_each_special_purpose_block_is_refused_from_its_first_to_its_last_address(
    block: str, neighbours: list[str]
) -> None:
    network = ipaddress.ip_network(block)
    for address in (network.network_address, network.broadcast_address):
        assert not public_address(address), address
        with pytest.raises(AddressRefused) as refused:
            check_url(_literal_url(address), allow_private=False)
        assert refused.value.reason == "url_not_public"
    for neighbour in neighbours:
        assert public_address(ipaddress.ip_address(neighbour)), neighbour
        assert check_url(_literal_url(ipaddress.ip_address(neighbour)), allow_private=False)


def _near_edges(version: int) -> st.SearchStrategy[int]:
    """Integers at and around the first and last address of the listed blocks of `version`."""
    edges = [
        edge
        for block, _ in NOT_GLOBAL + EMBEDDING
        if (network := ipaddress.ip_network(block)).version == version
        for edge in (int(network.network_address), int(network.broadcast_address))
    ]
    top = 2**32 - 1 if version == 4 else 2**128 - 1
    return st.tuples(st.sampled_from(edges), st.integers(-2, 2)).map(lambda p: min(top, max(0, p[0] + p[1])))


def _listed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, table: list[tuple[str, list[str]]]
) -> bool:
    return any(
        address.version == (network := ipaddress.ip_network(block)).version and address in network
        for block, _ in table
    )


@given(st.one_of(st.ip_addresses(v=4), _near_edges(4).map(ipaddress.IPv4Address)))
def test_an_ipv4_address_is_public_exactly_when_no_listed_block_holds_it(
    address: ipaddress.IPv4Address,
) -> None:
    assert public_address(address) == (not _listed(address, NOT_GLOBAL))


@given(st.one_of(st.ip_addresses(v=6), _near_edges(6).map(ipaddress.IPv6Address)))
def test_an_ipv6_address_is_public_exactly_when_global_unicast_and_in_no_listed_block(
    address: ipaddress.IPv6Address,
) -> None:
    if _listed(address, EMBEDDING):
        return  # judged by the IPv4 address inside: the next test
    assert public_address(address) == (address in GLOBAL_UNICAST and not _listed(address, NOT_GLOBAL))


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_a_teredo_address_is_refused_whatever_it_carries(
    server: ipaddress.IPv4Address, client: ipaddress.IPv4Address, flags: int, port: int
) -> None:
    # 2001:0::/32, the server's address, flags, the client's port and address, both inverted.
    teredo = ipaddress.IPv6Address(
        (0x20010000 << 96)
        | (int(server) << 64)
        | (flags << 48)
        | ((port ^ 0xFFFF) << 32)
        | (int(client) ^ 0xFFFFFFFF)
    )
    assert teredo.teredo == (server, client)
    assert not public_address(teredo)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1)
    assert public_address(mapped) == public_address(nat64) == public_address(address)
    assert public_address(six_to_four) == public_address(address)  # a 6to4 address leads there too


@responses.activate
def test_a_name_that_now_resolves_inside_stops_the_sync_before_anything_is_sent(
    settings: Settings, audience_shop: Audience, dns: dict[str, list[str]]
) -> None:
    url = "https://hooks.example.com/in"
    dns["hooks.example.com"] = [PUBLIC_ADDRESS]
    sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
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
    settings: Settings, audience_shop: Audience, url: str, reason: str
) -> None:
    with receiver() as inside:
        target = url.format(port=inside.port)
        # Saved as earlier versions allowed (the API refuses it now).
        sync_id = add_sync(
            settings, audience_shop, DestinationKind.WEBHOOK, {"url": target}, {"secret": SECRET}
        )
        run = runner(settings, [])(sync_id)
    assert run["status"] == "stopped"
    assert reason in run["error"]
    assert inside.requests == []


def test_an_installation_allowing_private_addresses_posts_to_its_own_network(
    settings: Settings, audience_shop: Audience
) -> None:
    with receiver() as inside:
        url = f"http://127.0.0.1:{inside.port}/in"
        sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    [received] = inside.requests
    assert len(json.loads(received["body"])["adds"]) == 3


def test_a_redirect_is_not_followed(settings: Settings, audience_shop: Audience) -> None:
    with receiver() as inside:
        inside.status, inside.headers = 307, {"Location": "/elsewhere"}
        url = f"http://127.0.0.1:{inside.port}/in"
        sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings), [])(sync_id)
    assert [r["path"] for r in inside.requests] == ["/in"]
    assert (run["adds"], run["failed"]) == (0, 3)
    assert "307" in run["errors"][0]["error"]


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_connection_goes_to_the_checked_address_and_tls_checks_the_name(
    settings: Settings,
    audience_shop: Audience,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    family: socket.AddressFamily,
) -> None:
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
        sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings, certificates.ca), [])(sync_id)
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    assert lookups == ["hooks.test"]  # resolved once, for the check; connected to that answer
    [received] = inside.requests
    assert received["host"] == f"hooks.test:{inside.port}"
    assert inside.server_names == ["hooks.test"]


def test_a_certificate_for_another_name_is_refused(
    settings: Settings,
    audience_shop: Audience,
    certificates: Certificates,
    dns: dict[str, list[str]],
) -> None:
    dns["hooks.test"] = ["127.0.0.1"]
    with receiver(tls=certificates.other_test) as inside:
        url = f"https://hooks.test:{inside.port}/in"
        sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings, certificates.ca), [])(sync_id)
    assert run["adds"] == 0
    assert "certificate" in run["errors"][0]["error"].lower()
    assert inside.requests == []


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_proxy_named_in_the_environment_is_not_used(
    settings: Settings,
    audience_shop: Audience,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    dns: dict[str, list[str]],
    scheme: str,
) -> None:
    dns["hooks.test"] = ["127.0.0.1"]
    with listener() as proxy, receiver(tls=certificates.hooks_test if scheme == "https" else None) as inside:
        # A proxy would resolve the name itself and connect from where it stands: no pinning left.
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        url = f"{scheme}://hooks.test:{inside.port}/in"
        sync_id = add_sync(settings, audience_shop, DestinationKind.WEBHOOK, {"url": url}, {"secret": SECRET})
        run = runner(allowing(settings, certificates.ca), [])(sync_id)
    assert proxy.received == []
    assert (run["status"], run["adds"]) == ("succeeded", 3)
    [received] = inside.requests
    assert received["host"] == f"hooks.test:{inside.port}"


def test_a_proxy_set_on_the_session_is_not_used_either(dns: dict[str, list[str]]) -> None:
    dns["hooks.test"] = ["127.0.0.1"]
    with listener() as proxy, receiver() as inside:
        http = Http("the webhook endpoint")
        http.session.proxies = {"http": f"http://127.0.0.1:{proxy.port}"}
        hook = SignedWebhook(f"http://hooks.test:{inside.port}/in", SECRET, 1, http=http, allow_private=True)
        delivery = hook.deliver([contract.Change(contract.ADD, 7, "seven@example.com")])
    assert proxy.received == []
    assert (delivery.done, delivery.failed) == ({7: None}, {})
    [received] = inside.requests
    assert [a["email"] for a in json.loads(received["body"])["adds"]] == ["seven@example.com"]
