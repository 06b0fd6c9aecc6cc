"""My work, the dashboard and the agents' availability toggle against a real intake and a real router
(their own databases on the real PostgreSQL, the same topics on the real Kafka): the router assigns
what intake creates, and the console shows it with the person's key."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from tierline_console.app import create_app
from tierline_router.bootstrap import create_app as create_router_app
from tierline_router.config import Settings as RouterSettings
from tierline_shared import migrations
from tierline_shared.testing import ServerThread, eventually

from .conftest import ADMIN_KEY, CONSOLE, Intake, console_settings, free_port, sign_in

pytestmark = pytest.mark.integration
ROUTER_MIGRATIONS = Path(__file__).resolve().parents[3] / "router" / "migrations"
POLICY: dict[str, Any] = {
    "agents": [{"name": "alice", "capacity": 1}, {"name": "bob", "capacity": 1, "available": False}],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["alice", "bob"]},
        {"name": "tech", "tier": "L2", "agents": ["bob"]},
        {"name": "experts", "tier": "L3", "agents": ["bob"]},
    ],
    "escalation_policies": [
        {"name": "rest", "ladder": [{"tier": "L1", "budget": "4h"}, {"tier": "L2", "budget": "8h"}]}
    ],
}


@dataclass
class Router:
    url: str
    admin: httpx.Client


@pytest.fixture
def router(intake: Intake, new_database, tmp_path: Path) -> Iterator[Router]:  # type: ignore[no-untyped-def]
    url = new_database("router")
    migrations.upgrade(ROUTER_MIGRATIONS, url)
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(POLICY))
    settings = RouterSettings(
        database_url=url,
        kafka_bootstrap_servers=intake.bootstrap_servers,
        bootstrap_api_key=ADMIN_KEY,
        config_dir=tmp_path,
        kafka_topic_prefix=intake.prefix,  # it routes what this intake creates; intake takes its answers
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        ServerThread(create_router_app(settings), port),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as client,
    ):
        yield Router(url=base, admin=client)


@pytest.fixture
def console(intake: Intake, router: Router) -> Iterator[TestClient]:
    settings = console_settings(intake).model_copy(update={"router_url": router.url})
    with TestClient(create_app(settings), base_url=CONSOLE) as client:
        yield client


def create(intake: Intake, title: str) -> str:
    body = {"title": title, "service": "mail", "category": "email", "priority": "P3", "channel": "phone"}
    created = intake.admin.post("/v1/incidents", json={**body, "reporter": "r@example.com"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def listed(intake: Intake, **params: str) -> list[dict[str, Any]]:
    page = intake.admin.get("/v1/incidents", params={**params, "limit": 200})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def csrf(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text
    return found.group(1)


async def test_my_work_the_dashboard_and_going_away(
    intake: Intake, router: Router, console: TestClient
) -> None:
    key = intake.issue_key("alice's console", ["incidents:write"], person="alice")
    await eventually(
        lambda: (
            httpx.get(
                f"{router.url}/v1/agents", headers={"Authorization": f"Bearer {key['key']}"}
            ).status_code
            == 200
        ),
        timeout=60,
        what="the router to know alice's key",
    )
    held = create(intake, "Mailbox full")
    await eventually(
        lambda: [i["id"] for i in listed(intake, assignee="alice")] == [held],
        timeout=60,
        what="the router to give alice the first incident",
    )
    waiting = create(intake, "Calendar <b>gone</b>")
    await eventually(
        lambda: any(i["id"] == waiting and i["waiting_since"] for i in listed(intake, queue="desk")),
        timeout=60,
        what="the second incident to wait in the desk queue (alice is full, bob away)",
    )
    assert sign_in(console, key["key"]).status_code == 303

    page = console.get("/my-work")
    assert page.status_code == 200, page.text
    mine, queued = page.text.split('id="h-waiting"')
    assert f'data-incident-id="{held}"' in mine and waiting not in mine
    assert f'data-incident-id="{waiting}"' in queued and held not in queued
    assert "Calendar &lt;b&gt;gone&lt;/b&gt;" in queued and "Queues: desk." in queued
    assert 'You are <strong class="state-on">on shift</strong>' in page.text

    board = console.get("/dashboard", params={"days": "7"})
    assert board.status_code == 200, board.text
    assert re.search(r"<dt>Created</dt>\s*<dd><span class=\"value\">2</span>", board.text), board.text
    assert re.search(r"<dt>Resolved</dt>\s*<dd><span class=\"value\">0</span>", board.text)
    assert re.search(r'<th scope="row">All</th><td>2</td><td>2</td><td>0</td><td>0</td>', board.text)
    assert 'id="chart-volume"' in board.text and "data-chart=" in board.text

    agents = console.get("/admin/agents")
    assert 'action="/admin/agents/alice/availability"' in agents.text
    away = console.post(
        "/admin/agents/alice/availability",
        data={"available": "false", "csrf_token": csrf(agents)},
        follow_redirects=False,
    )
    assert away.status_code == 303 and away.headers["location"] == "/admin/agents?done=away"
    assert router.admin.get("/v1/agents/alice").json()["available"] is False
    forged = console.post("/admin/agents/alice/availability", data={"available": "true", "csrf_token": "x"})
    assert forged.status_code == 403
    assert router.admin.get("/v1/agents/alice").json()["available"] is False
    await eventually(
        lambda: listed(intake, assignee="alice") == [],
        timeout=60,
        what="alice's incident to go back to the queue once she is away",
    )
    assert 'You are <strong class="state-off">away</strong>' in console.get("/my-work").text
    assert uuid.UUID(held)
