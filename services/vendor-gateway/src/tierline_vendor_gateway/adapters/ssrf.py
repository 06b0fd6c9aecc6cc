"""The SSRF guard: a webhook may only reach public addresses over https, unless its host is allow-listed.

Vendors' URLs come from configuration and the admin API; without this guard a URL (or a DNS
name later pointed) at 127.0.0.1, 10.0.0.0/8, 169.254.169.254 (cloud metadata) or the like
would make the gateway a tool against its own network. Hosts are resolved right before each
attempt and every address must be public; redirects are never followed (sender.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; retrying will not change that."""


def _is_public(address: Address) -> bool:
    """Globally routable unicast only (not private, loopback, link-local, shared 100.64/10, reserved...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local  # deprecated fec0::/10
    return address.is_global and not address.is_multicast and not site_local


def _allowed(host: str, addresses: Sequence[Address], allow: Sequence[str]) -> bool:
    """The host name, or every address it resolves to, is on the allow-list (names, IPs or CIDRs)."""
    names = {a.lower() for a in allow if not _is_network(a)}
    if host.lower() in names:
        return True
    networks = [ipaddress.ip_network(a, strict=False) for a in allow if _is_network(a)]
    return bool(addresses) and all(any(addr in net for net in networks) for addr in addresses)


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


async def resolve(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {host!r}: {exc.strerror}") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


async def check(url: str, allow: Sequence[str]) -> None:
    """Raise Refused unless ``url`` is https to public addresses, or its host is allow-listed."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"{url!r} is not an http(s) URL")
    addresses = await resolve(host)
    if _allowed(host, addresses, allow):
        return
    if parts.scheme != "https":
        raise Refused(f"{host} is not allow-listed, so its webhook must use https")
    private = [str(a) for a in addresses if not _is_public(a)]
    if private:
        raise Refused(
            f"{host} resolves to non-public addresses ({', '.join(private)}); allow-list it to call it"
        )
