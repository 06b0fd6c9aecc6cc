"""Each request counted by route and status; the caller told its timing."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tierline_shared.metrics import HTTP_REQUESTS
from tierline_shared.request_metrics import RequestMetrics


def _count(method: str, route: str, status: str) -> float:
    return HTTP_REQUESTS.labels(method, route, status)._value.get()


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestMetrics)

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    return app


def test_requests_are_counted_by_route_template_and_status_and_timed() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    before = {key: _count(*key) for key in [("GET", "/things/{name}", "200"), ("GET", "unmatched", "404")]}
    before["broken"] = _count("GET", "/broken", "500")

    answer = client.get("/things/a")
    assert answer.status_code == 200 and answer.json() == {"name": "a"}
    assert answer.headers["Server-Timing"].startswith("app;dur=")
    client.get("/things/b")
    assert client.get("/nowhere").status_code == 404
    assert client.get("/broken").status_code == 500

    assert _count("GET", "/things/{name}", "200") == before[("GET", "/things/{name}", "200")] + 2
    assert _count("GET", "unmatched", "404") == before[("GET", "unmatched", "404")] + 1
    assert _count("GET", "/broken", "500") == before["broken"] + 1
