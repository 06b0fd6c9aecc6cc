"""What the console needs from intake, through a running intake on the real PostgreSQL and Kafka:
who a key is (``person``, ``GET /v1/access/me``) and the board's list (queue, waiting since, the
nearest SLA clock, the queue and assignee filters).

The router's and SLA monitor's events reach intake through Kafka as in production; the clock is
fixed, so every figure is computed by hand from T0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared import migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentAssigned,
    IncidentEscalated,
    SlaBreached,
    SlaClockPaused,
    SlaClockStarted,
    SlaWarning,
)
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.kafka import new_producer
from tierline_shared.testing import eventually

from .conftest import MIGRATIONS, vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROUTER, SLA_MONITOR = "/tierline/router", "/tierline/sla-monitor"
PROBLEM_JSON = "application/problem+json"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# -- API keys: person, and who am I --------------------------------------------------------------


def test_a_key_issued_for_a_person_says_so_and_me_answers_who_it_is(client: TestClient) -> None:
    created = client.post(
        "/v1/api-keys", json={"name": "bob's console", "scopes": ["incidents:write"], "person": "bob.l1"}
    )
    assert created.status_code == 201, created.text
    bob = created.json()
    assert (bob["name"], bob["scopes"], bob["person"]) == ("bob's console", ["incidents:write"], "bob.l1")
    plain = client.post("/v1/api-keys", json={"name": "grafana", "scopes": ["incidents:read"]}).json()
    assert plain["person"] is None

    listed = {key["name"]: key for key in client.get("/v1/api-keys").json()}
    assert (listed["bob's console"]["person"], listed["grafana"]["person"]) == ("bob.l1", None)
    assert "key" not in listed["bob's console"]

    me = client.get("/v1/access/me", headers={"Authorization": f"Bearer {bob['key']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": bob["id"],
        "name": "bob's console",
        "scopes": ["incidents:write"],
        "person": "bob.l1",
    }
    grafana = client.get("/v1/access/me", headers={"Authorization": f"Bearer {plain['key']}"}).json()
    assert grafana == {"id": plain["id"], "name": "grafana", "scopes": ["incidents:read"], "person": None}
    bootstrap = client.get("/v1/access/me").json()  # the client's default header: the bootstrap key
    assert bootstrap == {
        "id": str(uuid.UUID(int=0)),
        "name": "bootstrap",
        "scopes": ["admin"],
        "person": None,
    }

    # revoked: the key no longer says who anyone is
    assert client.delete(f"/v1/api-keys/{bob['id']}").status_code == 204
    gone = client.get("/v1/access/me", headers={"Authorization": f"Bearer {bob['key']}"})
    assert gone.status_code == 401 and gone.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize("headers", [{"Authorization": ""}, {"Authorization": "Bearer tl_nobody"}])
def test_me_without_a_valid_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/access/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize(
    "person", ["", "bob smith", "-bob", "<script>", "b" * 101, 42], ids=lambda p: repr(p)[:12]
)
def test_a_person_that_is_no_agent_name_is_422_naming_it(client: TestClient, person: Any) -> None:
    response = client.post("/v1/api-keys", json={"name": "x", "scopes": ["incidents:read"], "person": person})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "person" in response.text
    assert client.get("/v1/api-keys").json() == []  # nothing issued


# -- the board's list ---------------------------------------------------------------------------


class Board:
    """A running intake on its own topics and a fixed clock, fed events through Kafka."""

    def __init__(self, client: TestClient, prefix: str, bootstrap_servers: str, clock: FixedClock) -> None:
        self.client, self.prefix, self.servers, self.clock = client, prefix, bootstrap_servers, clock

    def create(self, title: str) -> uuid.UUID:
        response = self.client.post("/v1/incidents", json=vpn_incident(title=title))
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    async def deliver(self, iid: uuid.UUID, events: list[tuple[str, Event]]) -> None:
        """Publish ``(source, event)`` pairs in order; wait until the timeline shows them all."""
        before = len(self.client.get(f"/v1/incidents/{iid}/timeline").json())
        producer = new_producer(self.servers, f"intake-console-{uuid.uuid4().hex[:6]}")
        await producer.start()
        try:
            for source, event in events:
                record = cloudevents.encode(Envelope(data=event, source=source))
                await producer.send_and_wait(
                    self.prefix + record.topic, value=record.value, key=record.key, headers=record.headers
                )
        finally:
            await producer.stop()

        def applied() -> bool:
            return len(self.client.get(f"/v1/incidents/{iid}/timeline").json()) == before + len(events)

        await eventually(applied, timeout=30, what=f"{len(events)} events on the timeline")

    def listed(self, **params: Any) -> dict[uuid.UUID, dict[str, Any]]:
        response = self.client.get("/v1/incidents", params=params)
        assert response.status_code == 200, response.text
        return {uuid.UUID(item["id"]): item for item in response.json()["items"]}


@pytest.fixture
def board(infra, make_client: Callable[..., TestClient]) -> Board:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    clock = FixedClock(T0)
    client = make_client(clock=clock, kafka_topic_prefix=prefix, rate_limit_per_minute=0)
    return Board(client, prefix, infra.bootstrap_servers, clock)


def _assigned(iid: uuid.UUID, minutes: float, assignee: str | None, **kw: Any) -> tuple[str, Event]:
    values = {"tier": "L1", "queue": "l1-desk", **kw}
    return ROUTER, IncidentAssigned(incident_id=iid, assignee=assignee, assigned_at=_at(minutes), **values)


def _started(iid: uuid.UUID, clock: str, due_minutes: float) -> tuple[str, Event]:
    started = SlaClockStarted(incident_id=iid, clock=clock, due_at=_at(due_minutes), started_at=T0)
    return SLA_MONITOR, started


def _sla(item: dict[str, Any]) -> dict[str, Any] | None:
    sla = item["sla"]
    if sla is not None:
        sla = {**sla, "due_at": _time(sla["due_at"])}
    return sla


async def test_the_list_shows_queue_waiting_since_and_the_nearest_clock(board: Board) -> None:
    waiting, held, escalated, unrouted = (board.create(t) for t in ("waiting", "held", "escalated", "new"))
    # waiting: bob had it, then it went back to the queue at 09:05; its response clock is at its
    # last warning (90 % of 15 min used at 09:13:30)
    await board.deliver(
        waiting,
        [
            _assigned(waiting, 1, "bob"),
            _assigned(waiting, 5, None, reason="reassigned"),
            _started(waiting, "response", 15),
            _started(waiting, "resolution", 240),
            (
                SLA_MONITOR,
                SlaWarning(
                    incident_id=waiting,
                    clock="response",
                    threshold=0.9,
                    last=True,
                    due_at=_at(15),
                    elapsed_seconds=810,
                    remaining_seconds=90,
                    at=_at(13.5),
                ),
            ),
        ],
    )
    # held: carol took it up to L2 herself; its resolution clock paused with 2 h left
    await board.deliver(
        held,
        [
            _assigned(held, 1, "carol"),
            (
                ROUTER,
                IncidentEscalated(
                    incident_id=held,
                    from_tier="L1",
                    to_tier="L2",
                    reason="manual",
                    queue="l2-net",
                    assignee="carol",
                    escalated_at=_at(2),
                ),
            ),
            _started(held, "resolution", 240),
            (
                SLA_MONITOR,
                SlaClockPaused(
                    incident_id=held,
                    clock="resolution",
                    reason="awaiting_customer",
                    elapsed_seconds=600,
                    remaining_seconds=7_200,
                    at=_at(10),
                ),
            ),
        ],
    )
    # escalated: the escalation at 09:03 left it in L2's queue; its response breached at 09:10
    await board.deliver(
        escalated,
        [
            _assigned(escalated, 1, "dave"),
            (
                ROUTER,
                IncidentEscalated(
                    incident_id=escalated,
                    from_tier="L1",
                    to_tier="L2",
                    reason="sla_breach",
                    queue="l2-net",
                    escalated_at=_at(3),
                ),
            ),
            _started(escalated, "response", 10),
            _started(escalated, "resolution", 120),
            (
                SLA_MONITOR,
                SlaBreached(incident_id=escalated, clock="response", due_at=_at(10), breached_at=_at(10)),
            ),
        ],
    )
    board.clock.advance(timedelta(minutes=14))  # 09:14

    items = board.listed()
    assert set(items) == {waiting, held, escalated, unrouted}
    first = items[waiting]
    assert (first["queue"], first["assignee"], _time(first["waiting_since"])) == ("l1-desk", None, _at(5))
    assert _sla(first) == {
        "clock": "response",
        "due_at": _at(15),
        "remaining_seconds": 60.0,
        "warning_threshold": 0.9,
        "last_warning": True,
        "breached": False,
        "paused": False,
    }
    second = items[held]
    assert (second["queue"], second["tier"], second["assignee"], second["waiting_since"]) == (
        "l2-net",
        "L2",
        "carol",
        None,
    )
    assert _sla(second) == {
        "clock": "resolution",
        "due_at": None,
        "remaining_seconds": 7_200.0,
        "warning_threshold": None,
        "last_warning": False,
        "breached": False,
        "paused": True,
    }
    third = items[escalated]
    assert (third["queue"], third["assignee"], _time(third["waiting_since"])) == ("l2-net", None, _at(3))
    assert _sla(third) == {
        "clock": "response",
        "due_at": _at(10),
        "remaining_seconds": 0.0,
        "warning_threshold": None,
        "last_warning": False,
        "breached": True,
        "paused": False,
    }
    fourth = items[unrouted]
    assert (fourth["queue"], fourth["waiting_since"], fourth["sla"]) == (None, None, None)

    # the incident itself shows the last warning on its clock
    clocks = board.client.get(f"/v1/incidents/{waiting}").json()["sla"]
    assert (clocks["response"]["last_warning"], clocks["resolution"]["last_warning"]) == (True, False)

    # acknowledged: the breached response is history; the resolution counts down (2 h - 14 min)
    assert board.client.post(f"/v1/incidents/{escalated}/acknowledge").status_code == 200
    third = board.listed()[escalated]
    assert _sla(third)["clock"] == "resolution"  # type: ignore[index]
    assert (third["sla"]["remaining_seconds"], third["sla"]["breached"]) == (6_360.0, False)
    assert _time(third["waiting_since"]) == _at(3)  # still nobody's: it waits in l2-net

    # taken by an agent: no longer waiting; resolved: nothing to count down
    await board.deliver(waiting, [_assigned(waiting, 15, "erin", reason="dequeued")])
    assert board.listed()[waiting]["waiting_since"] is None
    assert board.client.post(f"/v1/incidents/{escalated}/resolve").status_code == 200
    done = board.listed()[escalated]
    assert (done["status"], done["waiting_since"], done["sla"]) == ("resolved", None, None)

    # the filters
    assert set(board.listed(queue="l2-net")) == {held, escalated}
    assert set(board.listed(queue=["l2-net", "l1-desk"])) == {waiting, held, escalated}
    assert set(board.listed(assignee="carol")) == {held}
    assert set(board.listed(queue="l1-desk", assignee="carol")) == set()
    assert set(board.listed(queue="l2-net", status="open")) == {held}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"queue": "q" * 121}, "queue"),
        ({"queue": ""}, "queue"),
        ({"queue": "bad\x00name"}, "queue"),
        ({"assignee": "a" * 101}, "assignee"),
        ({"assignee": "bad\x00name"}, "assignee"),
    ],
    ids=["queue-too-long", "queue-empty", "queue-nul", "assignee-too-long", "assignee-nul"],
)
def test_bad_board_filters_are_422_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/incidents", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in response.text


def test_the_list_without_a_key_is_401(client: TestClient) -> None:
    response = client.get("/v1/incidents", params={"queue": "l1-desk"}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_the_cli_issues_a_key_for_a_person_and_refuses_a_bad_one(new_database) -> None:
    url = new_database("intake_cli")
    migrations.upgrade(MIGRATIONS, url)
    env = {**os.environ, "TIERLINE_DATABASE_URL": url, "TIERLINE_LOG_LEVEL": "WARNING"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tierline_intake", "api-key", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    created = cli("create", "--name", "erin", "--scope", "incidents:write", "--person", "erin")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["person"] == "erin"
    assert [(k["name"], k["person"]) for k in json.loads(cli("list").stdout)] == [("erin", "erin")]
    refused = cli("create", "--name", "x", "--scope", "admin", "--person", "not a name")
    assert refused.returncode != 0 and "--person" in refused.stderr
    assert len(json.loads(cli("list").stdout)) == 1
