"""One HTTP attempt at a vendor's webhook: never follows redirects, always bounded in time.

aiohttp rather than httpx here: the delivery worker is CPU-bound on its HTTP client, and
aiohttp spends about a tenth of httpx's CPU per request (measured by `make bench`), and its
resolver hook lets the SSRF guard check the very addresses the connection uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import aiohttp

from tierline_shared.ssrf import GuardedResolver, Refused
from tierline_vendor_gateway.domain.webhook import AttemptResult

__all__ = ["SSRF_HINT", "AttemptResult", "client", "post"]

# How the SSRF guard's refusals say to allow a host, in the gateway's own terms.
SSRF_HINT = "allow-list it (delivery.allow_hosts in vendors.yaml) to call it"

EXCERPT_BYTES = 2048
USER_AGENT = "Tierline-Webhooks/1"


def client(allow_hosts: Sequence[str], *, connections: int = 100) -> aiohttp.ClientSession:
    """The worker's one HTTP client: pooled connections, names resolved through the SSRF guard."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_hosts, hint=SSRF_HINT), limit=connections)
    return aiohttp.ClientSession(connector=connector, headers={"user-agent": USER_AGENT}, trust_env=False)


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    """The start of the answer; a longer body is not read (its connection is dropped instead)."""
    data = b""
    while len(data) < EXCERPT_BYTES and not response.content.at_eof():
        chunk = await response.content.read(EXCERPT_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    if not response.content.at_eof():
        response.close()
    # PostgreSQL text cannot hold NUL: a vendor's answer with one must still be logged
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptResult:
    started = time.perf_counter()
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            excerpt = await _excerpt(response)
    except aiohttp.ClientConnectorDNSError as exc:
        elapsed = time.perf_counter() - started
        if isinstance(exc.os_error, Refused):
            return AttemptResult(None, elapsed, "", f"refused by the SSRF guard: {exc.os_error}", None, True)
        return AttemptResult(None, elapsed, "", f"cannot resolve: {exc.os_error}"[:500], None)
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return AttemptResult(None, time.perf_counter() - started, "", f"cannot connect: {reason}"[:500], None)
    except TimeoutError:
        return AttemptResult(None, time.perf_counter() - started, "", f"timed out after {timeout:g}s", None)
    except aiohttp.ClientError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return AttemptResult(None, time.perf_counter() - started, "", error[:500], None)
    status = response.status
    return AttemptResult(
        status=status,
        latency_seconds=time.perf_counter() - started,
        response_excerpt=excerpt,
        error=None if 200 <= status < 300 else f"HTTP {status}",
        retry_after=response.headers.get("retry-after"),
    )
