"""The incident page's actions against a real intake and a real router (their own databases on the
real PostgreSQL, one topic prefix on the real Kafka, so the router routes what intake creates):
log a call through the form, acknowledge it, escalate it with a note to L2, see a refusal in words,
and a forged POST refused (no CSRF token; a read-only key)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tierline_console.app import create_app
from tierline_router.bootstrap import create_app as create_router_app
from tierline_router.config import Settings as RouterSettings
from tierline_shared import migrations
from tierline_shared.testing import ServerThread, eventually

from .conftest import ADMIN_KEY, CONFIG_DIR, CONSOLE, Intake, console_settings, free_port, sign_in

pytestmark = pytest.mark.integration
ROUTER_MIGRATIONS = Path(__file__).resolve().parents[4] / "services" / "router" / "migrations"


@pytest.fixture
def router_url(intake: Intake, new_database) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real router on intake's topics (deploy/config's routing: new P3s go to L1's service-desk)."""
    url = new_database("router")
    migrations.upgrade(ROUTER_MIGRATIONS, url)
    settings = RouterSettings(
        database_url=url,
        kafka_bootstrap_servers=intake.bootstrap_servers,
        bootstrap_api_key=ADMIN_KEY,
        config_dir=CONFIG_DIR,
        kafka_topic_prefix=intake.prefix,
    )
    port = free_port()
    with ServerThread(create_router_app(settings), port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def desk(intake: Intake, router_url: str) -> Iterator[TestClient]:
    settings = console_settings(intake).model_copy(update={"router_url": router_url})
    with TestClient(create_app(settings, live_feed=False), base_url=CONSOLE) as client:
        yield client


def csrf(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found, page
    return found.group(1)


def buttons(page: str) -> list[str]:
    return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', page)


async def test_log_acknowledge_and_escalate_through_the_console(
    intake: Intake, router_url: str, desk: TestClient
) -> None:
    key = intake.issue_key("bob's console", ["incidents:read", "incidents:write"], person="bob")
    assert sign_in(desk, key["key"]).status_code == 303
    form = desk.get("/incidents/new")
    assert form.status_code == 200
    fields = {
        "csrf_token": csrf(form.text),
        "title": "Caller cannot reach the VPN",
        "description": "Phoned in at 09:05",
        "service": "vpn",
        "category": "network",
        "channel": "phone",
        "reporter": "dora@example.com",
        "impact": "medium",
        "urgency": "medium",
        "type": "incident",
    }
    created = desk.post("/incidents/new", data=fields, follow_redirects=False)
    assert created.status_code == 303, created.text
    page_url = created.headers["location"]
    iid = page_url.rsplit("/", 1)[1]
    incident = intake.admin.get(f"/v1/incidents/{iid}").json()
    assert (incident["channel"], incident["reporter"], incident["title"]) == (
        "phone",
        "dora@example.com",
        "Caller cannot reach the VPN",
    )

    await eventually(
        lambda: intake.admin.get(f"/v1/incidents/{iid}").json()["tier"] == "L1",
        timeout=60,
        what="the router to put the new incident on L1",
    )
    with httpx.Client(base_url=router_url, headers={"Authorization": f"Bearer {key['key']}"}) as router:
        await eventually(
            lambda: router.get(f"/v1/incidents/{iid}/assignment").status_code == 200,
            timeout=60,
            what="the router to know bob's key",
        )

    page = desk.get(page_url)
    assert page.status_code == 200
    assert "Acknowledge" in buttons(page.text) and "Escalate" in buttons(page.text)
    token = csrf(page.text)

    forged = desk.post(f"/incidents/{iid}/acknowledge", data={}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token
    assert intake.admin.get(f"/v1/incidents/{iid}").json()["status"] == "open"

    acked = desk.post(f"/incidents/{iid}/acknowledge", data={"csrf_token": token}, follow_redirects=False)
    assert acked.status_code == 303 and acked.headers["location"] == f"/incidents/{iid}?done=acknowledge"
    assert intake.admin.get(f"/v1/incidents/{iid}").json()["status"] == "acknowledged"
    page = desk.get(acked.headers["location"])
    assert "Acknowledged." in page.text and "Acknowledge" not in buttons(page.text)
    assert "acknowledged" in page.text.split('id="h-timeline"')[1]  # intake's timeline says so

    refused = desk.post(f"/incidents/{iid}/close", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "Close was refused by intake" in refused.text and "Traceback" not in refused.text
    assert intake.admin.get(f"/v1/incidents/{iid}").json()["status"] == "acknowledged"

    no_note = desk.post(f"/incidents/{iid}/escalate", data={"csrf_token": token, "note": ""})
    assert no_note.status_code == 422 and "note: required" in no_note.text

    escalated = desk.post(
        f"/incidents/{iid}/escalate",
        data={"csrf_token": token, "note": "Tunnel drops need network ops"},
        follow_redirects=False,
    )
    assert escalated.status_code == 303, escalated.text
    await eventually(
        lambda: intake.admin.get(f"/v1/incidents/{iid}").json()["tier"] == "L2",
        timeout=60,
        what="intake to take the router's escalation to L2",
    )
    page = desk.get(page_url)
    assert "De-escalate" in buttons(page.text)
    assert f'data-incident-id="{iid}"' in desk.get("/boards/L2").text
    assert f'data-incident-id="{iid}"' not in desk.get("/boards/L1").text


async def test_a_read_only_key_sees_no_buttons_and_its_forged_post_is_403(
    intake: Intake, router_url: str, desk: TestClient
) -> None:
    body = {"title": "Mail slow", "service": "mail", "category": "email", "priority": "P3", "channel": "web"}
    created = intake.admin.post("/v1/incidents", json={**body, "reporter": "eve@example.com"})
    assert created.status_code == 201, created.text
    iid = created.json()["id"]
    key = intake.issue_key("carol's console", ["incidents:read"], person="carol")
    assert sign_in(desk, key["key"]).status_code == 303

    page = desk.get(f"/incidents/{iid}")
    assert page.status_code == 200 and buttons(page.text) == ["Sign out"]
    forged = desk.post(f"/incidents/{iid}/acknowledge", data={"csrf_token": csrf(page.text)})
    assert forged.status_code == 403 and "lacks the incidents:write scope" in forged.text
    assert intake.admin.get(f"/v1/incidents/{iid}").json()["status"] == "open"
