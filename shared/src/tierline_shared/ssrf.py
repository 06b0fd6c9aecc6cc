"""The SSRF guard: a URL from configuration or an admin API may only reach public addresses over
https, unless its host is allow-listed.

Vendors' webhooks (the gateway) and people's chat contacts (the notifier) are URLs someone
typed; without this guard a URL (or a DNS name later pointed) at 127.0.0.1, 10.0.0.0/8,
169.254.169.254 (cloud metadata) or the like would make the service a tool against its own
network. A URL is checked before each attempt (``check_url``, or ``check`` with the DNS lookup),
and an aiohttp client can check host names inside its resolver (``GuardedResolver``), so the
connection goes to exactly the addresses that passed: a DNS answer that changes between a check
and the connection cannot slip through. Plain http is for hosts allow-listed by name, or IPs in an
allowed CIDR.

A URL is also vetted as it is registered (``vet``), so what every send would refuse is refused up
front. That check is advice, not the boundary: DNS answers change.

Every refusal ends with a hint saying how to allow the host; each caller passes its own (``hint=``),
naming where its allow-list lives.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(OSError):
    """The URL may not be called; retrying will not change that.

    An OSError, so the HTTP client's connector carries it out of its resolver.
    """


class Unresolved(OSError):
    """The host name has no address now (no such name, or no answer); later it may have one."""


DEFAULT_HINT = "allow-list it to call it"
# How long vetting a URL at registration waits for DNS: an admin request or a start must not hang on it.
VET_DNS_TIMEOUT_SECONDS = 2.0


NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a site's own translators
SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo, IPv4-compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or address in SIIT or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: Address) -> bool:
    """Globally routable unicast only (not private, loopback, link-local, shared 100.64/10, reserved...)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64:
            return False
        if (inner := _embedded_ipv4(address)) is not None:
            return _is_public(inner)  # judged by where it really leads
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
        raise Unresolved(f"cannot resolve {host!r}: {exc.strerror}") from exc
    except UnicodeError as exc:  # a label IDNA cannot encode (too long, empty): no DNS name at all
        raise Unresolved(f"cannot resolve {host!r}: not a valid DNS name") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _named(host: str, allow: Sequence[str]) -> bool:
    return host.lower() in {a.lower() for a in allow if not _is_network(a)}


def check_url(url: str, allow: Sequence[str], *, hint: str = DEFAULT_HINT) -> None:
    """What can be known without DNS: scheme, host, and IP literals (which no resolver sees)."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"{url!r} is not an http(s) URL")
    literal = _literal(host)
    allowed = _named(host, allow) or (literal is not None and _allowed(host, [literal], allow))
    if not allowed and parts.scheme != "https":
        raise Refused(f"{host} is not allow-listed, so its webhook must use https")
    if literal is not None:
        check_addresses(host, [literal], allow, hint=hint)


def check_addresses(
    host: str, addresses: Sequence[Address], allow: Sequence[str], *, hint: str = DEFAULT_HINT
) -> None:
    """Every address ``host`` resolved to is public, unless the host or all its addresses are allowed."""
    if _allowed(host, addresses, allow):
        return
    private = [str(a) for a in addresses if not _is_public(a)]
    if private and _literal(host) is not None:
        raise Refused(f"{host} is a non-public address; {hint}")
    if private:
        raise Refused(f"{host} resolves to non-public addresses ({', '.join(private)}); {hint}")


async def check(url: str, allow: Sequence[str], *, hint: str = DEFAULT_HINT) -> None:
    """Raise Refused unless ``url`` is https to public addresses, or its host is allow-listed
    (Unresolved when its host name does not resolve)."""
    check_url(url, allow, hint=hint)
    host = urlsplit(url).hostname
    assert host is not None
    if _literal(host) is None:
        check_addresses(host, await resolve(host), allow, hint=hint)


Resolve = Callable[[str], Awaitable[list[Address]]]


async def vet(
    url: str,
    allow: Sequence[str],
    *,
    timeout: float = VET_DNS_TIMEOUT_SECONDS,
    resolver: Resolve = resolve,
    hint: str = DEFAULT_HINT,
) -> str | None:
    """Check a URL as it is registered (a vendor's webhook, a person's contact): Refused for what
    every send would refuse.

    A host name that does not resolve within ``timeout`` (no such name yet, a slow or failing
    resolver) is accepted, and the warning returned says so: a vendor may register before its DNS
    is live, and a start must not fail because a vendor's DNS is down. Deliveries check again as
    they connect (``GuardedResolver``), so an answer that changes later (DNS rebinding) is caught there.
    """
    check_url(url, allow, hint=hint)
    host = urlsplit(url).hostname
    assert host is not None
    if _literal(host) is not None or _named(host, allow):
        return None
    try:
        addresses = await asyncio.wait_for(resolver(host), timeout)
    except TimeoutError:
        return f"{host} did not resolve within {timeout:g}s; deliveries check it again when they send"
    except Unresolved as exc:
        return f"{exc}; deliveries check it again when they send"
    check_addresses(host, addresses, allow, hint=hint)
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to non-public addresses (unless allowed)."""

    def __init__(self, allow: Sequence[str], *, hint: str = DEFAULT_HINT) -> None:
        self._allow = list(allow)
        self._hint = hint
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        addresses = [ipaddress.ip_address(r["host"].split("%", 1)[0]) for r in results]
        check_addresses(host, addresses, self._allow, hint=self._hint)
        return results

    async def close(self) -> None:
        await self._inner.close()
