"""The vendor registry's admin API on the real app: register, read, change, disable, re-enable.

Secrets go in and never come out; every answer here is checked for them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tierline_shared.testing import issue_api_key
from tierline_vendor_gateway.domain.vendors import fingerprint

from .conftest import offline_vendors, whsec

pytestmark = pytest.mark.integration


SECRET, CALLBACK, NEW, NEWER = whsec(b"s"), whsec(b"c"), whsec(b"n"), whsec(b"m")
SECRETS = (SECRET, CALLBACK, NEW, NEWER)
VENDORS = offline_vendors(SECRET, {"acme": [CALLBACK], "globex": [CALLBACK]})
INITECH = {
    "name": "initech",
    "webhook_url": "https://hooks.initech.example/tierline",
    "secrets": [NEW],
    "callback_secrets": [CALLBACK],
    "products": ["SAN-9000"],
    "categories": ["storage"],
    "contract": {"response": "1h", "resolution": "8h"},
    "timeout": "5s",
    "schedule": ["0s", "5s", "5m"],
}


@pytest.fixture
async def app(gateway_app) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with gateway_app(VENDORS) as started:
        yield started


def _no_secrets(response: httpx.Response) -> None:
    for secret in SECRETS:
        assert secret not in response.text and secret.removeprefix("whsec_") not in response.text


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    _no_secrets(response)
    return response.json()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    _no_secrets(response)
    body = response.json()
    assert body["status"] == status
    return body


async def names(http: httpx.AsyncClient) -> list[str]:
    return [v["name"] for v in ok(await http.get("/v1/vendors"))]


async def test_the_files_vendors_are_listed_with_fingerprints_only(app) -> None:
    http, _ = app
    vendors = ok(await http.get("/v1/vendors"))
    assert [(v["name"], v["managed_by"], v["enabled"], v["disabled_reason"]) for v in vendors] == [
        ("acme", "config", True, None),
        ("globex", "config", True, None),
    ]
    acme = vendors[0]
    assert acme["webhook_url"] == "http://127.0.0.1:9/acme"
    assert acme["secrets"] == [{"fingerprint": fingerprint(SECRET)}]
    assert acme["callback_secrets"] == [{"fingerprint": fingerprint(CALLBACK)}]
    assert (acme["timeout_seconds"], acme["schedule_seconds"], acme["contract"]) == (None, None, None)
    assert ok(await http.get("/v1/vendors/acme")) == acme


async def test_a_vendor_is_registered_once(app) -> None:
    http, _ = app
    response = await http.post("/v1/vendors", json=INITECH)
    created = ok(response, 201)
    assert response.headers["location"] == "/v1/vendors/initech"
    assert {k: created[k] for k in ("name", "webhook_url", "products", "categories", "managed_by")} == {
        "name": "initech",
        "webhook_url": "https://hooks.initech.example/tierline",
        "products": ["SAN-9000"],
        "categories": ["storage"],
        "managed_by": "api",
    }
    assert created["secrets"] == [{"fingerprint": fingerprint(NEW)}]
    assert created["contract"] == {"response_seconds": 3600.0, "resolution_seconds": 28800.0}
    assert (created["timeout_seconds"], created["schedule_seconds"]) == (5.0, [0.0, 5.0, 300.0])
    assert (created["enabled"], created["disabled_reason"]) == (True, None)
    [warning] = created.pop("warnings")  # .example names never resolve: accepted, and said so
    assert "hooks.initech.example" in warning and "deliveries check it again" in warning
    assert ok(await http.get(response.headers["location"])) == created

    again = problem(
        await http.post("/v1/vendors", json={**INITECH, "webhook_url": "https://x.example/"}), 409
    )
    assert again["type"].endswith("/already-exists")
    problem(await http.post("/v1/vendors", json={**INITECH, "name": "acme"}), 409)
    assert ok(await http.get("/v1/vendors/initech")) == created, "the refused POST changed nothing"
    assert ok(await http.get("/v1/vendors/acme"))["webhook_url"] == "http://127.0.0.1:9/acme"

    off = ok(await http.post("/v1/vendors", json={**INITECH, "name": "hooli", "enabled": False}), 201)
    assert (off["enabled"], off["disabled_reason"]) == (False, "disabled when registered")
    assert await names(http) == ["acme", "globex", "hooli", "initech"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"secrets": ["not-a-secret"]}, "secrets.0"),
        ({"secrets": [NEW, "whsec_c2hvcnQ="]}, "secrets.1"),
        ({"secrets": [NEW, NEW]}, "secrets"),
        ({"secrets": []}, "secrets"),
        ({"callback_secrets": []}, "callback_secrets"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"schedule": []}, "schedule"),
        ({"schedule": ["0s", "soon"]}, "schedule.1"),
        ({"timeout": "0s"}, "timeout"),
        ({"timeout": "61s"}, "timeout"),
        ({"name": "Not A Slug"}, "name"),
        ({"contract": {"respond": "1h"}}, "contract.respond"),
        ({"favourite_colour": "red"}, "favourite_colour"),
        ({"products": ["bad\x00"]}, "products.0"),  # a NUL: named where it is
    ],
)
async def test_an_invalid_vendor_is_a_422_naming_the_field_and_writes_nothing(
    app, change: dict[str, Any], field: str
) -> None:
    http, _ = app
    body = problem(await http.post("/v1/vendors", json={**INITECH, **change}), 422)
    assert field in [e["field"] for e in body["errors"]], body
    assert "whsec_c2hvcnQ=" not in str(body)
    assert await names(http) == ["acme", "globex"]
    problem(await http.get("/v1/vendors/initech"), 404)


async def test_unknown_vendors_are_404_problems(app) -> None:
    http, _ = app
    for response in (
        await http.get("/v1/vendors/nobody"),
        await http.patch("/v1/vendors/nobody", json={"timeout": "5s"}),
        await http.post("/v1/vendors/nobody/disable", json={"reason": "x"}),
        await http.post("/v1/vendors/nobody/enable"),
    ):
        assert problem(response, 404)["type"].endswith("/not-found")
    assert await names(http) == ["acme", "globex"]


async def test_patch_changes_only_the_fields_sent(app) -> None:
    http, _ = app
    before = ok(await http.post("/v1/vendors", json=INITECH), 201)

    rotated = ok(await http.patch("/v1/vendors/initech", json={"secrets": [NEWER, NEW]}))
    assert rotated["secrets"] == [{"fingerprint": fingerprint(NEWER)}, {"fingerprint": fingerprint(NEW)}]
    unchanged = {"secrets", "updated_at", "warnings"}
    assert {k: v for k, v in rotated.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }
    assert rotated["updated_at"] >= before["updated_at"]

    dropped = ok(await http.patch("/v1/vendors/initech", json={"timeout": None, "contract": None}))
    assert (dropped["timeout_seconds"], dropped["contract"]) == (None, None)
    assert dropped["schedule_seconds"] == [0.0, 5.0, 300.0] and dropped["secrets"] == rotated["secrets"]

    assert (rotated["warnings"], dropped["warnings"]) == ([], []), "only a new endpoint is looked up"
    moved = ok(await http.patch("/v1/vendors/initech", json={"webhook_url": "https://new.initech.example/"}))
    assert moved["webhook_url"] == "https://new.initech.example/"
    assert "new.initech.example" in moved.pop("warnings")[0]
    assert ok(await http.get("/v1/vendors/initech")) == moved

    for bad, field in (
        ({"secrets": ["whsec_c2hvcnQ="]}, "secrets.0"),
        ({"webhook_url": None}, "webhook_url"),
        ({"secrets": None}, "secrets"),
        ({"schedule": []}, "schedule"),
        ({"enabled": False}, "enabled"),
        ({"name": "renamed"}, "name"),
    ):
        body = problem(await http.patch("/v1/vendors/initech", json=bad), 422)
        assert field in [e["field"] for e in body["errors"]], (bad, body)
    assert ok(await http.get("/v1/vendors/initech")) == moved, "refused patches changed nothing"

    config = ok(await http.patch("/v1/vendors/acme", json={"products": ["edge-router"]}))
    assert (config["products"], config["managed_by"]) == (["edge-router"], "config")


async def test_a_vendor_is_disabled_with_a_reason_and_enabled_again(app) -> None:
    http, _ = app
    off = ok(await http.post("/v1/vendors/acme/disable", json={"reason": "contract ended"}))
    assert (off["enabled"], off["disabled_reason"]) == (False, "contract ended")
    assert ok(await http.get("/v1/vendors/acme"))["disabled_reason"] == "contract ended"
    assert ok(await http.get("/v1/vendors/globex"))["enabled"] is True, "only acme"

    on = ok(await http.post("/v1/vendors/acme/enable"))
    assert (on["enabled"], on["disabled_reason"]) == (True, None)
    assert ok(await http.get("/v1/vendors"))[0]["enabled"] is True

    bare = ok(await http.post("/v1/vendors/globex/disable"))
    assert (bare["enabled"], bare["disabled_reason"]) == (False, "disabled by an operator")
    problem(await http.post("/v1/vendors/globex/disable", json={"reason": "x" * 501}), 422)
    problem(await http.post("/v1/vendors/globex/disable", json={"why": "x"}), 422)


async def test_reading_takes_incidents_read_and_changing_takes_admin(app) -> None:
    http, rt = app
    for scopes in (["incidents:read"], ["incidents:write"]):
        key = await issue_api_key(rt, scopes)
        assert [v["name"] for v in ok(await http.get("/v1/vendors", headers=key))] == ["acme", "globex"]
        assert ok(await http.get("/v1/vendors/acme", headers=key))["name"] == "acme"
        for write in (
            http.post("/v1/vendors", json=INITECH, headers=key),
            http.patch("/v1/vendors/acme", json={"secrets": [NEW]}, headers=key),
            http.post("/v1/vendors/acme/disable", json={"reason": "x"}, headers=key),
            http.post("/v1/vendors/acme/enable", headers=key),
        ):
            assert problem(await write, 403)["required_scope"] == "admin"
    for anonymous in (
        http.get("/v1/vendors", headers={"Authorization": ""}),
        http.get("/v1/vendors/acme", headers={"Authorization": ""}),
        http.post("/v1/vendors", json=INITECH, headers={"Authorization": ""}),
        http.get("/v1/vendors", headers={"Authorization": "Bearer tl_unknown"}),
    ):
        problem(await anonymous, 401)
    acme = ok(await http.get("/v1/vendors/acme"))
    assert (acme["secrets"], acme["enabled"]) == ([{"fingerprint": fingerprint(SECRET)}], True)
    assert await names(http) == ["acme", "globex"]


async def test_concurrent_edits_and_registrations_are_serialized(app) -> None:
    http, _ = app
    for _ in range(3):  # a lost update needs an interleaving; three rounds make one likely
        products, categories = [uuid.uuid4().hex], [uuid.uuid4().hex]
        first, second = await asyncio.gather(
            http.patch("/v1/vendors/acme", json={"products": products}),
            http.patch("/v1/vendors/acme", json={"categories": categories}),
        )
        assert (first.status_code, second.status_code) == (200, 200)
        acme = ok(await http.get("/v1/vendors/acme"))
        assert (acme["products"], acme["categories"]) == (products, categories), "an edit was lost"

    name = f"v-{uuid.uuid4().hex[:8]}"
    answers = await asyncio.gather(
        *(http.post("/v1/vendors", json={**INITECH, "name": name}) for _ in range(3))
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            problem(answer, 409)


LONG_HOST = "https://" + "a" * 2067 + ".example"  # 2083 characters, 2084 once normalized with a "/"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"webhook_url": LONG_HOST}, "webhook_url"),  # was a 500: stored, then unreadable
        ({"webhook_url": "https://" + "a" * 1984 + ".example"}, "webhook_url"),  # 2000, 2001 normalized
        ({"webhook_url": "https://user:hunter2@hooks.acme.example/cases"}, "webhook_url"),
        ({"schedule": ["0s", "8d"]}, "schedule"),
        ({"schedule": ["0s", "99999999999d"]}, "schedule.1"),  # was an OverflowError: a 500
        ({"contract": {"response": "0s"}}, "contract.response"),
        ({"contract": {"resolution": "366d"}}, "contract.resolution"),
        ({"contract": {"response": 1e20}}, "contract.response"),
        ({"timeout": "99999999999d"}, "timeout"),
    ],
)
async def test_patch_with_values_out_of_bounds_is_a_422_naming_the_field_and_changes_nothing(
    app, change: dict[str, Any], field: str
) -> None:
    http, _ = app
    before = ok(await http.get("/v1/vendors/acme"))
    body = problem(await http.patch("/v1/vendors/acme", json=change), 422)
    assert field in [e["field"] for e in body["errors"]], body
    assert "hunter2" not in str(body)
    assert ok(await http.get("/v1/vendors/acme")) == before
