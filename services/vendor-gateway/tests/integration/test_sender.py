"""One attempt over real loopback sockets: redirects, bounded excerpts, timeouts, and the resolver guard.

"localhost" resolves through /etc/hosts, so the guard's resolver is exercised without any DNS server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tierline_launcher.procs import free_port
from tierline_shared import ssrf
from tierline_vendor_gateway.adapters import sender

from .conftest import serve_in_loop

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        await request.read()
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        if request.path == "/big":
            return web.Response(body=b"x" * 1_000_000)
        if request.path == "/nul":
            return web.Response(body=b'{"reference":"x"}\x00', status=202, content_type="application/json")
        if request.path == "/nul-split":  # the NUL in the second chunk the excerpt reads
            response = web.StreamResponse(status=500)
            await response.prepare(request)
            await response.write(b"\x00err")
            await response.write(b"or\x00\x00")
            return response
        if request.path == "/latin1":
            return web.Response(body=b"caf\xe9 ok", content_type="text/plain")
        if request.path == "/slow":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"{")
            await asyncio.sleep(5)
            return response
        return web.json_response({"reference": "R-1"}, status=202)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_in_loop(receiver.handle, receiver.port):
        yield receiver


async def _post(url: str, allow: list[str], timeout: float = 2) -> sender.AttemptResult:
    async with sender.client(allow) as client:
        return await sender.post(client, url, b"{}", {"content-type": "application/json"}, timeout)


async def test_an_answer_is_recorded_with_its_excerpt(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/cases", ["127.0.0.1"])
    assert (result.status, result.error, result.final) == (202, None, False)
    assert '"R-1"' in result.response_excerpt and result.latency_seconds > 0


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/moved", ["127.0.0.1"])
    assert (result.status, result.error) == (302, "HTTP 302")
    assert receiver.paths == ["/moved"], "the redirect target must never be called"


async def test_a_long_answer_is_cut_to_the_excerpt(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/big", ["127.0.0.1"])
    assert result.status == 200 and result.response_excerpt == "x" * sender.EXCERPT_BYTES


async def test_bytes_that_are_not_utf8_are_replaced(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/latin1", ["127.0.0.1"])
    assert result.response_excerpt == "caf\ufffd ok"


async def test_a_nul_in_the_answer_is_replaced_as_postgresql_text_cannot_hold_it(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/nul", ["127.0.0.1"])
    assert (result.status, result.error) == (202, None)
    assert result.response_excerpt == '{"reference":"x"}\ufffd'
    split = await _post(f"http://127.0.0.1:{receiver.port}/nul-split", ["127.0.0.1"])
    assert (split.status, split.response_excerpt) == (500, "\ufffderror\ufffd\ufffd")


async def test_a_stalled_answer_times_out_and_may_be_retried(receiver: Receiver) -> None:
    result = await _post(f"http://127.0.0.1:{receiver.port}/slow", ["127.0.0.1"], timeout=0.5)
    assert (result.status, result.error, result.final) == (None, "timed out after 0.5s", False)
    assert 0.4 < result.latency_seconds < 4


async def test_a_refused_connection_may_be_retried() -> None:
    result = await _post(f"http://127.0.0.1:{free_port()}/cases", ["127.0.0.1"])
    assert result.status is None and result.error.startswith("cannot connect") and not result.final


async def test_a_name_resolving_to_loopback_is_refused_before_any_connection(receiver: Receiver) -> None:
    result = await _post(f"https://localhost:{receiver.port}/cases", [])
    assert result.final and "SSRF guard" in (result.error or "") and "non-public" in (result.error or "")
    assert "delivery.allow_hosts in vendors.yaml" in (result.error or ""), "the gateway's own hint"
    assert receiver.paths == []


async def test_a_name_allow_listed_by_name_is_called_over_http(receiver: Receiver) -> None:
    result = await _post(f"http://localhost:{receiver.port}/cases", ["localhost"])
    assert result.status == 202 and receiver.paths == ["/cases"]


async def test_the_resolver_checks_what_it_resolved() -> None:
    with pytest.raises(ssrf.Refused, match="non-public"):
        await ssrf.GuardedResolver([]).resolve("localhost", 443)
    allowed = await ssrf.GuardedResolver(["127.0.0.0/8", "::1"]).resolve("localhost", 443)
    assert allowed and all(r["host"] in ("127.0.0.1", "::1") for r in allowed)


def test_plain_http_needs_the_name_or_the_literal_allow_listed() -> None:
    with pytest.raises(ssrf.Refused, match="https"):
        ssrf.check_url("http://localhost:9/x", ["127.0.0.0/8"])  # allowed by CIDR only after resolving
    ssrf.check_url("https://localhost:9/x", ["127.0.0.0/8"])  # the resolver decides
    ssrf.check_url("http://127.0.0.1:9/x", ["127.0.0.0/8"])
    with pytest.raises(ssrf.Refused, match="non-public"):
        ssrf.check_url("https://10.0.0.1/x", [])  # literals are checked here: no resolver sees them
