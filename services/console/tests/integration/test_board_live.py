"""Boards and the live feed against the real intake and the real Kafka: an incident the router put on
L1 is on the L1 board, and a newly created incident reaches an open ``/live`` stream within 2 s."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tierline_console.sessions import SESSION_COOKIE
from tierline_shared.testing import eventually

from .conftest import Intake, ServedConsole, sign_in
from .test_signin import incident_on_l1

pytestmark = pytest.mark.integration


async def test_the_l1_board_lists_what_the_router_assigned_to_l1(intake: Intake, console: TestClient) -> None:
    iid = await incident_on_l1(intake, "Printer on fire")
    key = intake.issue_key("carol's console", ["incidents:read"], person="carol")
    assert sign_in(console, key["key"]).status_code == 303

    board = console.get("/boards/L1")
    assert board.status_code == 200
    assert f'<a href="/incidents/{iid}">Printer on fire</a>' in board.text
    assert "waiting since" in board.text  # in the service-desk queue, held by nobody
    assert 'sse-connect="/live"' in board.text
    assert iid not in console.get("/boards/L2").text
    queue = console.get("/queues/service-desk/rows", headers={"HX-Request": "true"})
    assert f'data-incident-id="{iid}"' in queue.text
    assert iid not in console.get("/boards/L1", params={"priority": "P1"}).text  # it is a P2


class Stream:
    """An open ``GET /live`` read line by line in the background."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            self.lines.append(line)

    def events(self) -> list[dict[str, str]]:
        """The SSE events so far, each as its fields (comment lines and the retry hint left out)."""
        found, current = [], {}
        for line in self.lines:
            if not line:
                if "event" in current:  # the opening retry hint is not an event
                    found.append(current)
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")
        return found

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_live_delivers_a_new_incident_within_two_seconds(
    intake: Intake, served_console: ServedConsole
) -> None:
    key = intake.issue_key("dan's console", ["incidents:read"], person="dan")
    with httpx.Client(base_url=served_console.url, timeout=10) as browser:
        assert sign_in(browser, key["key"]).status_code == 303
        cookie = browser.cookies[SESSION_COOKIE]
    await eventually(served_console.live_ready, timeout=60, what="the live feed to read Kafka")

    cookies = {SESSION_COOKIE: cookie}
    async with (
        httpx.AsyncClient(base_url=served_console.url, cookies=cookies, timeout=10) as client,
        client.stream("GET", "/live") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        try:
            body = {
                "title": "Laptop will not boot",
                "service": "laptops",
                "category": "hardware",
                "priority": "P3",
                "channel": "phone",
                "reporter": "erin@example.com",
            }
            created = await asyncio.to_thread(intake.admin.post, "/v1/incidents", json=body)
            assert created.status_code == 201, created.text
            iid = created.json()["id"]
            began = time.monotonic()

            def delivered() -> dict[str, str] | None:
                return next(
                    (e for e in stream.events() if e.get("event") == "incident" and iid in e.get("data", "")),
                    None,
                )

            event = await eventually(delivered, timeout=2.0, what="the new incident's event on /live")
            assert time.monotonic() - began < 2.0
            assert json.loads(event["data"]) == {"incident_id": iid, "type": "tierline.incident.created.v1"}
            assert event["id"]  # the CloudEvents id, for Last-Event-ID
            assert stream.lines[0] == "retry: 2000"
        finally:
            await stream.close()

    async with (
        httpx.AsyncClient(base_url=served_console.url, cookies=cookies, timeout=10) as client,
        client.stream("GET", "/live", headers={"Last-Event-ID": event["id"]}) as replayed,
        client.stream("GET", "/live", headers={"Last-Event-ID": "not-held"}) as lost,
    ):
        again, behind = Stream(replayed), Stream(lost)
        try:
            update = await asyncio.to_thread(
                intake.admin.patch, f"/v1/incidents/{iid}", json={"priority": "P2"}
            )
            assert update.status_code == 200, update.text
            await eventually(lambda: again.events(), timeout=5, what="a replayed stream to go on live")
            assert all(e.get("event") == "incident" for e in again.events())
            assert "created" not in json.dumps(again.events())  # nothing before Last-Event-ID again
            first = await eventually(lambda: behind.events(), timeout=5, what="a resync")
            assert first[0]["event"] == "resync"
        finally:
            await again.close()
            await behind.close()


async def test_live_needs_a_session(served_console: ServedConsole) -> None:
    async with httpx.AsyncClient(base_url=served_console.url, timeout=10) as client:
        response = await client.get("/live")
    # a problem, not a redirect to an HTML page: the browser's EventSource fails visibly
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
