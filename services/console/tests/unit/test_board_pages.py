"""Board pages in-process over a stand-in intake: what they ask intake, what they show, in what order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, Identity, new_session
from tierline_shared.clock import FixedClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME = {"id": "5e0c", "name": "alice's console", "scopes": ["incidents:read"], "person": "alice"}


def incident(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "title": f"incident {n}",
        "service": "vpn",
        "priority": "P3",
        "status": "open",
        "type": "incident",
        "tier": "L1",
        "queue": "service-desk",
        "assignee": None,
        "waiting_since": None,
        "vendor": None,
        "created_at": "2026-03-02T08:00:00+00:00",
        "sla": None,
        **fields,
    }


def sla(minutes: float, **fields: Any) -> dict[str, Any]:
    return {
        "clock": "resolution",
        "due_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "remaining_seconds": max(minutes * 60, 0),
        "warning_threshold": None,
        "last_warning": False,
        "breached": False,
        "paused": False,
        **fields,
    }


class Intake:
    """Answers ``GET /v1/incidents`` from ``pages`` (cursor → page) and records what it was asked."""

    def __init__(self) -> None:
        self.pages: dict[str | None, dict[str, Any]] = {None: {"items": [], "next_cursor": None}}
        self.asked: list[httpx.QueryParams] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/incidents":
            self.asked.append(request.url.params)
            return httpx.Response(200, json=self.pages[request.url.params.get("cursor")])
        if request.url.path.startswith("/v1/incidents/"):
            return httpx.Response(200, json=incident(1, title="The one"))
        return httpx.Response(404, json={"title": "Not Found", "status": 404})


@pytest.fixture
def intake() -> Intake:
    return Intake()


@pytest.fixture
def client(intake: Intake) -> Iterator[TestClient]:
    clock = FixedClock(T0)
    settings = Settings(console_secret=SecretStr(Fernet.generate_key().decode()))
    app = create_app(settings, clock=clock, transport=httpx.MockTransport(intake), live_feed=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        session = new_session("tl_the-key", Identity.model_validate(ME), clock.now())
        c.cookies.set(SESSION_COOKIE, app.state.console.sealer.seal(session, clock.now()), domain="127.0.0.1")
        yield c


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-incident-id="00000000-0000-4000-8000-(\d+)"', html)]


def test_the_board_lists_open_incidents_nearest_breach_first(client: TestClient, intake: Intake) -> None:
    intake.pages[None] = {
        "items": [
            incident(1),
            incident(2, sla=sla(90)),
            incident(3, sla=sla(-5, breached=True, last_warning=True), assignee="bob"),
            incident(4, sla=sla(10, warning_threshold=0.75), waiting_since="2026-03-02T08:12:00+00:00"),
            incident(5, sla=sla(0, due_at=None, remaining_seconds=600, paused=True), status="on_hold"),
        ],
        "next_cursor": None,
    }
    page = client.get("/boards/L1")
    assert page.status_code == 200
    assert row_ids(page.text) == [3, 4, 2, 5, 1]
    assert intake.asked[0].get_list("status") == ["open", "acknowledged", "on_hold"]
    assert intake.asked[0]["tier"] == "L1" and intake.asked[0]["limit"] == "200"
    html = page.text
    assert 'class="sla sla-red" title="resolution breached"' in html and ">-5m 00s<" in html
    assert 'class="sla sla-amber" title="resolution warning sent"' in html and ">10m 00s<" in html
    assert f'data-due="{(T0 + timedelta(minutes=10)).isoformat()}" data-left="600"' in html
    assert 'class="sla sla-ok sla-paused"' in html and "⏸" in html and ">10m 00s<" in html
    assert ">no SLA<" in html
    assert 'waiting since <time datetime="2026-03-02T08:12:00+00:00">02 Mar 08:12 UTC</time>' in html
    assert "<td>bob</td>" in html
    assert 'href="/incidents/00000000-0000-4000-8000-000000000003"' in html
    assert '<script src="/static/js/countdown.js" defer></script>' in html
    assert "5 open incidents" in html


def test_the_board_reloads_its_rows_on_live_events(client: TestClient, intake: Intake) -> None:
    page = client.get("/boards/L2", params={"priority": "P1", "service": "vpn"})
    assert 'hx-ext="sse" sse-connect="/live"' in page.text
    assert 'hx-get="/boards/L2/rows?priority=P1&amp;service=vpn"' in page.text
    assert 'hx-trigger="sse:incident, sse:resync"' in page.text  # the live listener
    assert 'data-live-refresh hx-trigger="live-refresh" hx-sync="this:queue last"' in page.text
    assert "aria-live" not in page.text  # per-second countdowns are not read out: one status line is
    assert '<p id="live-status" class="visually-hidden" role="status"></p>' in page.text
    assert 'data-live-label="Board updated"' in page.text
    assert '<div id="live-alert" class="live-alert" role="alert"></div>' in page.text

    rows = client.get("/boards/L2/rows", params={"priority": "P1"}, headers={"HX-Request": "true"})
    assert rows.status_code == 200 and "<html" not in rows.text and "No open incidents at L2" in rows.text
    assert "<span hidden data-live-summary>Board L2 updated: 0 open incidents</span>" in rows.text
    assert intake.asked[-1]["tier"] == "L2" and intake.asked[-1].get_list("priority") == ["P1"]
    intake.pages[None] = {"items": [incident(1)], "next_cursor": None}
    rows = client.get("/queues/service-desk/rows", headers={"HX-Request": "true"})
    assert "<span hidden data-live-summary>Queue service-desk updated: 1 open incident</span>" in rows.text


def test_filters_go_to_intake(client: TestClient, intake: Intake) -> None:
    client.get(
        "/boards/L1",
        params=[
            ("queue", "network"),
            ("priority", "P1"),
            ("priority", "P2"),
            ("service", "vpn"),
            ("status", "acknowledged"),
            ("type", "service_request"),
            ("sort", "newest"),
        ],
    )
    asked = intake.asked[-1]
    assert asked.get_list("queue") == ["network"] and asked.get_list("priority") == ["P1", "P2"]
    assert asked["service"] == "vpn" and asked.get_list("status") == ["acknowledged"]
    assert asked.get_list("type") == ["service_request"] and "sort" not in asked


def test_bad_filters_are_a_422_page_naming_them_and_intake_is_not_asked(
    client: TestClient, intake: Intake
) -> None:
    page = client.get("/boards/L1", params={"priority": "P7", "status": "closed"})
    assert page.status_code == 422
    assert "priority: &#39;P7&#39; is not one of P1, P2, P3, P4" in page.text
    assert "status: &#39;closed&#39; is not one of open, acknowledged, on_hold" in page.text
    assert intake.asked == []


def test_a_board_reads_at_most_two_pages_and_says_there_are_more(client: TestClient, intake: Intake) -> None:
    intake.pages[None] = {"items": [incident(n) for n in range(200)], "next_cursor": "c2"}
    intake.pages["c2"] = {"items": [incident(n) for n in range(200, 400)], "next_cursor": "c3"}
    page = client.get("/boards/L1")
    assert [q.get("cursor") for q in intake.asked] == [None, "c2"]
    assert len(row_ids(page.text)) == 400
    assert "400 open incidents: the newest 400 of more" in page.text


def test_a_second_page_is_read_when_there_is_one(client: TestClient, intake: Intake) -> None:
    intake.pages[None] = {"items": [incident(1)], "next_cursor": "c2"}
    intake.pages["c2"] = {"items": [incident(2, sla=sla(1))], "next_cursor": None}
    page = client.get("/boards/L1")
    assert row_ids(page.text) == [2, 1] and "of more" not in page.text


def test_a_queue_board_lists_its_queue_at_every_tier(client: TestClient, intake: Intake) -> None:
    intake.pages[None] = {"items": [incident(1, tier="L3", queue="net work")], "next_cursor": None}
    page = client.get("/queues/net%20work", params={"queue": "ignored"})
    assert page.status_code == 200 and "<h1>Queue net work</h1>" in page.text
    assert intake.asked[-1].get_list("queue") == ["net work"] and "tier" not in intake.asked[-1]
    assert 'hx-get="/queues/net%20work/rows"' in page.text and "<td>L3</td>" in page.text
    assert client.get(f"/queues/{'q' * 121}").status_code == 404


def test_the_incident_link_leads_to_a_page(client: TestClient) -> None:
    page = client.get("/incidents/00000000-0000-4000-8000-000000000001")
    assert page.status_code == 200 and "The one" in page.text
