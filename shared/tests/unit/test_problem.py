import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from tierline_shared.problem import Conflict, NotFound, install_problem_handlers


class Body(BaseModel):
    title: str = Field(min_length=1)
    count: int


def _client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body) -> dict:
        return {"ok": True}

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("incident 42 does not exist")

    @app.post("/conflict")
    async def conflict() -> None:
        raise Conflict("already resolved", current_status="resolved")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def test_validation_error_names_the_field_and_reason() -> None:
    response = _client().post("/things", json={"title": "", "count": "x"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"title", "count"}
    assert fields["count"]["pointer"] == "/count"
    assert "at least 1 character" in fields["title"]["reason"]


def test_malformed_json_is_a_422_problem() -> None:
    response = _client().post("/things", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["title"] == "Malformed JSON"
    assert response.headers["content-type"] == "application/problem+json"


def test_domain_errors_map_to_their_status_with_extensions() -> None:
    client = _client()
    missing = client.get("/missing")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "incident 42 does not exist"
    conflict = client.post("/conflict")
    assert conflict.status_code == 409
    assert conflict.json()["current_status"] == "resolved"


def test_unknown_route_is_problem_json() -> None:
    response = _client().get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_unexpected_error_leaks_no_internals() -> None:
    response = _client().get("/boom")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_domain_errors_refuse_extensions_named_like_rfc9457_members() -> None:
    for member in ("status", "type", "title", "detail", "instance"):
        with pytest.raises(TypeError, match=member):
            Conflict("x", **{member: "clash"})
    assert Conflict("x", assignment_status="released").extensions == {"assignment_status": "released"}
