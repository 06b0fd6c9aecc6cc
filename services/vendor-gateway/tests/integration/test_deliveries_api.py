"""The delivery log API on the real app: list and filter, one delivery, replay, vendors and re-enabling.

The app's own worker runs: the vendors' URLs are an allow-listed loopback port where nothing listens
and a delivery gets one attempt, so every delivery is dead-lettered on its first ("cannot connect").
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tierline_shared.testing import eventually
from tierline_vendor_gateway.service_layer import registry

from .conftest import offline_vendors, open_l4_case

pytestmark = pytest.mark.integration

SECRET = "whsec_dGllcmxpbmUtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="
VENDORS = offline_vendors(SECRET, {"acme": [SECRET], "globex": [SECRET]})


@pytest.fixture
async def app(gateway_app) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with gateway_app(VENDORS) as started:
        yield started


async def escalate(rt: Any, vendor: str) -> uuid.UUID:
    async with rt.unit_of_work() as session:
        return await open_l4_case(session, rt.state["deps"], vendor)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def dead(http: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return ok(await http.get("/v1/deliveries", params={"status": "dead", **params}))


async def test_the_delivery_log_and_its_levers(app) -> None:
    http, rt = app
    acme_case, globex_case = await escalate(rt, "acme"), await escalate(rt, "globex")
    await eventually(lambda: _count(http, 2), what="both deliveries dead-lettered")

    [acme] = await dead(http, vendor="acme")
    assert (acme["case_id"], acme["vendor"], acme["attempts"], acme["next_attempt_at"]) == (
        str(acme_case),
        "acme",
        1,
        None,
    )
    [entry] = acme["log"]
    assert entry["attempt"] == 1 and entry["status_code"] is None and "cannot connect" in entry["error"]
    assert [d["case_id"] for d in await dead(http, vendor="globex")] == [str(globex_case)]
    assert ok(await http.get("/v1/deliveries", params={"status": "delivered"})) == []
    assert len(ok(await http.get("/v1/deliveries", params={"limit": 1}))) == 1
    assert ok(await http.get("/v1/deliveries", params={"vendor": "nobody"})) == []
    assert (await http.get("/v1/deliveries", params={"status": "bogus"})).status_code == 422
    by_case = ok(await http.get("/v1/deliveries", params={"case_id": str(globex_case)}))
    assert [(d["case_id"], d["vendor"]) for d in by_case] == [(str(globex_case), "globex")]
    assert ok(await http.get("/v1/deliveries", params={"case_id": str(uuid.uuid4())})) == []
    assert (await http.get("/v1/deliveries", params={"case_id": "not-a-case"})).status_code == 422
    assert ok(await http.get(f"/v1/deliveries/{acme['id']}"))["log"] == acme["log"]
    assert (await http.get("/v1/deliveries/msg_nope")).status_code == 404

    replayed = ok(await http.post(f"/v1/deliveries/{acme['id']}/replay"), 202)
    assert (replayed["id"], replayed["status"], replayed["attempts"]) == (acme["id"], "pending", 0)
    await eventually(lambda: _attempts(http, acme["id"], 2), what="the replay attempted")
    assert (await http.post("/v1/deliveries/msg_nope/replay")).status_code == 404
    anonymous = await http.post(f"/v1/deliveries/{acme['id']}/replay", headers={"Authorization": ""})
    assert anonymous.status_code == 401

    vendors = ok(await http.get("/v1/vendors"))
    assert [(v["name"], v["webhook_url"], v["enabled"], v["disabled_reason"]) for v in vendors] == [
        ("acme", "http://127.0.0.1:9/acme", True, None),
        ("globex", "http://127.0.0.1:9/globex", True, None),
    ]
    async with rt.unit_of_work() as session:
        await registry.set_enabled(
            rt.state["deps"].unit_of_work(session), rt.state["deps"], "globex", False, "HTTP 410 from x"
        )
    globex = ok(await http.get("/v1/vendors"))[1]
    assert (globex["enabled"], globex["disabled_reason"]) == (False, "HTTP 410 from x")
    [g] = await dead(http, vendor="globex")
    conflict = await http.post(f"/v1/deliveries/{g['id']}/replay")
    assert conflict.status_code == 409 and conflict.headers["content-type"] == "application/problem+json"
    assert ok(await http.post("/v1/vendors/globex/enable"))["enabled"] is True
    assert ok(await http.get("/v1/vendors"))[1] == {**vendors[1], "updated_at": globex["updated_at"]}
    assert (await http.post("/v1/vendors/nobody/enable")).status_code == 404
    ok(await http.post(f"/v1/deliveries/{g['id']}/replay"), 202)


async def _count(http: httpx.AsyncClient, n: int) -> bool:
    return len(await dead(http)) == n


async def _attempts(http: httpx.AsyncClient, delivery_id: str, n: int) -> bool:
    body = ok(await http.get(f"/v1/deliveries/{delivery_id}"))
    return body["status"] == "dead" and len(body["log"]) == n
