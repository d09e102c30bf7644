"""Which addresses a URL chosen by a merchant may reach: the public internet only.

`ipaddress`'s `is_global` alone is not enough: its tables change between Python patch releases,
and on 3.11 it lets through deprecated site-local `fec0::/10`, most of `192.0.0.0/24` and the
documentation prefix `3fff::/20`. So every block of IANA's IPv4 and IPv6 Special-Purpose Address
Registries that is not globally reachable is refused here by name, in addition to `is_global`,
multicast and reserved space; the results are then the same on every Python release.

IPv6 addresses that carry an IPv4 address are judged by where the packets end up: IPv4-mapped
(`::ffff:0:0/96`) and the well-known NAT64 prefix (`64:ff9b::/96`) by the IPv4 address alone (an
IPv6-only network reaches public IPv4 hosts that way), 6to4 (`2002::/16`) by its IPv4 address as
well as by itself. Teredo (`2001::/32`) is refused whatever it carries, as the rest of
`2001::/23`, and so is the local-use NAT64 prefix (`64:ff9b:1::/48`).

A name is resolved with the system resolver; `check_url` may bound the wait (a person waiting for
an answer should not wait for as long as the resolver likes).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from integration.errors import AddressRefused, RetriableConnectorError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not globally reachable, per IANA's special-purpose registries (and multicast, site-local).
NOT_GLOBAL: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(block), what)
    for block, what in (
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private use"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private use"),
        ("192.0.0.0/24", "IETF protocol assignments (DS-Lite, NAT64 discovery, anycast services)"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast: the nearest relay answers, wherever it is"),
        ("192.168.0.0/16", "private use"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "limited broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/8", "reserved (IPv4-compatible and IPv4-translated addresses)"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, anycast services)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
        ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


def refused_block(address: Address) -> tuple[Network, str] | None:
    """The listed block that refuses `address` by itself (embedded IPv4 addresses aside), if any."""
    for block, what in NOT_GLOBAL:
        if address.version == block.version and address in block:
            return block, what
    return None


def public_address(address: Address) -> bool:
    """Whether `address` is on the public internet: in no listed block, global, not multicast or reserved.

    An IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in MAPPED or address in NAT64:
            # The packets go to the IPv4 address (through NAT64 for the latter): only it counts.
            return public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not public_address(address.sixtofour):
            return False
    if refused_block(address) is not None:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def check_url(url: str, *, allow_private: bool, resolve_timeout_seconds: float | None = None) -> list[str]:
    """Return the addresses a request to `url` may connect to; raise AddressRefused if there are none.

    Without `allow_private` the URL must be https and every address its host resolves to public
    (one private answer is enough to refuse: which one a connection would use is not ours to pick).
    With `resolve_timeout_seconds`, a resolver that has not answered by then counts as no answer.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is no number
        host, port = None, None
    if scheme not in DEFAULT_PORTS or not host or port is None:
        raise AddressRefused(url, "url_not_https", "not an https URL with a host")
    if scheme != "https" and not allow_private:
        raise AddressRefused(url, "url_not_https", f"{scheme}://{host} is not https")
    try:
        answers = _resolve(host, port, resolve_timeout_seconds)
        addresses = list(dict.fromkeys(str(a[4][0]) for a in answers))
        parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    except LookupTimedOut as exc:
        raise AddressRefused(url, "url_unresolvable", f"{host} did not resolve: {exc}") from exc
    except (OSError, UnicodeError, ValueError) as exc:
        raise AddressRefused(url, "url_unresolvable", f"{host} does not resolve: {exc}") from exc
    if not addresses:
        raise AddressRefused(url, "url_unresolvable", f"{host} resolves to no address")
    if not allow_private:
        refused = [str(a) for a in parsed if not public_address(a)]
        if refused:
            raise AddressRefused(
                url, "url_not_public", f"{host} resolves to {', '.join(refused)}, not a public address"
            )
    return addresses


class LookupTimedOut(RetriableConnectorError):
    """The resolver did not answer in time."""


def _resolve(host: str, port: int, timeout_seconds: float | None) -> list[Any]:
    """Return `getaddrinfo`'s answers; raise LookupTimedOut if they take longer than `timeout_seconds`."""
    if timeout_seconds is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    outcome: list[Any] = []
    answered = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)
        finally:
            answered.set()

    # getaddrinfo cannot be interrupted: a lookup that outlives the wait finishes on its own,
    # in a daemon thread that holds nothing and keeps no process from exiting.
    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if not answered.wait(timeout_seconds):
        raise LookupTimedOut(f"the lookup timed out after {timeout_seconds:g} s")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    answers: list[Any] = outcome[0]
    return answers
