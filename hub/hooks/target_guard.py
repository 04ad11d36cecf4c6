"""Which URLs the hub will call: https on the public internet only, so a subscriber cannot make the
hub reach into its own network (private ranges, link-local, cloud metadata, loopback)."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A target URL the hub will not store or call; the message says why."""


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise TargetRefused(f"target_url: host {host!r} does not resolve ({error.strerror})") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_target(url: str, allow_loopback: bool = False) -> str:
    """Return the URL if the hub may call it; raise TargetRefused naming the reason otherwise.

    Checked when a hook is stored and again before every call, since DNS can change in between.
    `allow_loopback` (development and tests only) admits http and https to 127.0.0.0/8 and ::1.
    """
    if not isinstance(url, str) or len(url) > 2000:
        raise TargetRefused("target_url: expected a URL of at most 2000 characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused(f"target_url: expected an https:// URL, found {url[:100]!r}")
    if parts.username or parts.password:
        raise TargetRefused("target_url: credentials in the URL are not accepted")
    addresses = _addresses(parts.hostname)
    loopback = all(address.is_loopback for address in addresses)
    if loopback and allow_loopback:
        return url
    if parts.scheme != "https":
        raise TargetRefused(f"target_url: expected https://, found {parts.scheme}:// (http is only for loopback in development)")
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not mapped.is_global or mapped.is_multicast:
            raise TargetRefused(
                f"target_url: {parts.hostname} resolves to {address}, a private, loopback, link-local or reserved "
                "address; the hub only calls public addresses"
            )
    return url
