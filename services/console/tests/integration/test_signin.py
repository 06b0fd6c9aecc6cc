"""Sign-in against the real intake: a valid key gets a session and the L1 board, a bad one an
error, and a key revoked while signed in ends the session on the next request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tierline_console.sessions import SESSION_COOKIE
from tierline_shared.events.routing import IncidentAssigned
from tierline_shared.testing import eventually, publish_events

from .conftest import Intake, sign_in

pytestmark = pytest.mark.integration
XSS = "<script>alert(1)</script> VPN down"


async def incident_on_l1(intake: Intake, title: str) -> str:
    """An incident created through intake's API and assigned to L1 as the router would (by Kafka)."""
    body = {"title": title, "service": "vpn", "category": "network", "priority": "P2", "channel": "phone"}
    created = intake.admin.post("/v1/incidents", json={**body, "reporter": "alice@example.com"})
    assert created.status_code == 201, created.text
    iid: str = created.json()["id"]
    now = datetime.now(UTC)
    assigned = IncidentAssigned(
        incident_id=uuid.UUID(iid),
        tier="L1",
        queue="service-desk",
        assignee=None,
        tier_entered_at=now,
        assigned_at=now,
    )
    await publish_events(intake.bootstrap_servers, intake.prefix, "/tierline/router", [assigned])
    await eventually(
        lambda: intake.admin.get(f"/v1/incidents/{iid}").json()["tier"] == "L1",
        timeout=30,
        what="intake to take the router's assignment",
    )
    return iid


async def test_a_valid_key_signs_in_and_sees_the_l1_board(intake: Intake, console: TestClient) -> None:
    await incident_on_l1(intake, XSS)
    key = intake.issue_key("alice's console", ["incidents:read"], person="alice")

    response = sign_in(console, key["key"])

    assert response.status_code == 303 and response.headers["location"] == "/boards/L1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "secure" not in attributes  # plain HTTP on loopback
    assert key["key"] not in cookie

    board = console.get("/boards/L1")
    assert board.status_code == 200
    assert ">alice<" in board.text  # who intake says the key is
    assert "&lt;script&gt;alert(1)&lt;/script&gt; VPN down" in board.text
    assert "<script>alert(1)" not in board.text
    assert key["key"] not in board.text


def test_a_bad_key_shows_an_error_and_no_session(intake: Intake, console: TestClient) -> None:
    response = sign_in(console, "tl_not-a-key-intake-knows")
    assert response.status_code == 401
    assert "Your API key is no longer valid (revoked or unknown)" in response.text
    assert SESSION_COOKIE not in response.cookies
    assert "tl_not-a-key-intake-knows" not in response.text
    assert console.get("/boards/L1", follow_redirects=False).headers["location"] == "/signin"


def test_a_revoked_key_ends_the_session_on_the_next_request(intake: Intake, console: TestClient) -> None:
    key = intake.issue_key("bob's console", ["incidents:read"], person="bob")
    assert sign_in(console, key["key"]).status_code == 303
    assert console.get("/boards/L1").status_code == 200

    assert intake.admin.delete(f"/v1/api-keys/{key['id']}").status_code == 204

    response = console.get("/boards/L1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?ended=revoked"
    assert any(c.startswith(f'{SESSION_COOKIE}=""') for c in response.headers.get_list("set-cookie"))
    page = console.get(response.headers["location"])
    assert "Your API key is no longer valid" in page.text
    assert console.get("/my-work", follow_redirects=False).headers["location"] == "/signin"


async def test_readiness_names_the_upstreams_that_answer_and_kafka(
    intake: Intake, console: TestClient
) -> None:
    await eventually(
        lambda: console.get("/readyz").json()["checks"]["kafka"], timeout=60, what="the live feed"
    )
    response = console.get("/readyz")
    # only intake runs here: ready all the same, the others are information
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"intake": True, "kafka": True}
    assert response.json()["upstreams"] == {
        "router": False,
        "sla-monitor": False,
        "vendor-gateway": False,
        "notifier": False,
    }
    assert console.get("/healthz").json()["status"] == "ok"  # the live feed's consumer runs
