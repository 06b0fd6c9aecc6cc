"""The body limit: one for every route, a larger one only where a path pattern allows an upload."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tierline_shared.limits import BodySizeLimit

LIMIT, UPLOAD = 1_000, 5_000


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])])
    limited = BodySizeLimit(app, LIMIT, larger=[(r"/v1/schedules/[^/]+/import", UPLOAD)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test")


async def chunks(size: int):  # no Content-Length: the limit counts what arrives
    for _ in range(size // 100):
        yield b"x" * 100


@pytest.mark.parametrize(("path", "limit"), [("/v1/agents", LIMIT), ("/v1/schedules/l2/import", UPLOAD)])
@pytest.mark.parametrize("chunked", [False, True])
async def test_each_path_takes_its_own_limit(path: str, limit: int, chunked: bool) -> None:
    async with client() as http:
        for size, allowed in ((limit, True), (limit + 100, False)):
            body = chunks(size) if chunked else b"x" * size
            answer = await http.post(path, content=body)
            if allowed:
                assert answer.json() == {"received": size}
            else:
                assert answer.status_code == 413
                assert answer.json()["max_bytes"] == limit


async def test_a_pattern_matches_the_whole_path_only() -> None:
    async with client() as http:
        answer = await http.post("/v1/schedules/l2/import/more", content=b"x" * (LIMIT + 100))
    assert answer.status_code == 413 and answer.json()["max_bytes"] == LIMIT
