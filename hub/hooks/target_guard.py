"""Which URLs the hub will call: https on the public internet only, so a subscriber cannot make the
hub reach into its own network (private ranges, link-local, cloud metadata, loopback).

The check is only worth anything if the connection then goes to the address that was checked: a
name can answer a public address to the check and 127.0.0.1 to the connect (DNS rebinding). So
outbound calls go through `guarded_session()` (hub/hooks/guarded_http.py), which resolves once,
checks every address here, and connects to that address while the Host header, TLS SNI and the
certificate check keep the name.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class TargetRefused(ValueError):
    """A target URL the hub will not store or call; the message says why."""


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries and that a translator or tunnel would reach:
    IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d),
    6to4 (2002:AABB:CCDD::), Teredo (server and client) and ISATAP (…:5efe:a.b.c.d)."""
    if address.version != 6:
        return []
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address in IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are not IPv4 forms
        found.append(low32)
    if any(address in prefix for prefix in NAT64_PREFIXES):
        found.append(low32)
    if address in SIX_TO_FOUR and address.sixtofour:
        found.append(address.sixtofour)
    if address in TEREDO and address.teredo:
        found.extend(address.teredo)
    if (int(address) >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id 0000:5efe or 0200:5efe
        found.append(low32)
    return found


def is_public(address: Address) -> bool:
    """A globally routable unicast address, and so is every IPv4 address it embeds."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return False
    for candidate in (address, *embedded_ipv4(address)):
        if not candidate.is_global or candidate.is_multicast:
            return False
    return True


def resolve(host: str, port: int | None = None) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"target_url: host {host!r} does not resolve ({getattr(error, 'strerror', error)})") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def allowed_addresses(host: str, port: int | None, scheme: str, allow_loopback: bool = False) -> list[Address]:
    """Resolve `host` once and return the addresses the hub may connect to; TargetRefused otherwise.

    `allow_loopback` (development and tests only) admits http and https to 127.0.0.0/8 and ::1."""
    addresses = resolve(host, port)
    if not addresses:
        raise TargetRefused(f"target_url: host {host!r} has no address")
    if allow_loopback and all(address.is_loopback for address in addresses):
        return addresses
    if scheme != "https":
        raise TargetRefused(f"target_url: expected https://, found {scheme}:// (http is only for loopback in development)")
    for address in addresses:
        if not is_public(address):
            raise TargetRefused(
                f"target_url: {host} resolves to {address}, a private, loopback, link-local or reserved "
                "address; the hub only calls public addresses"
            )
    return addresses


def check_target(url: str, allow_loopback: bool = False) -> str:
    """Return the URL if the hub may call it; raise TargetRefused naming the reason otherwise.

    Checked when a hook is stored; the call itself checks again at connect time (guarded_session)."""
    if not isinstance(url, str) or len(url) > 2000:
        raise TargetRefused("target_url: expected a URL of at most 2000 characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused(f"target_url: expected an https:// URL, found {url[:100]!r}")
    if parts.username or parts.password:
        raise TargetRefused("target_url: credentials in the URL are not accepted")
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused(f"target_url: the port is not a number in {url[:100]!r}") from None
    allowed_addresses(parts.hostname, port, parts.scheme, allow_loopback)
    return url
