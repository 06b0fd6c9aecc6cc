"""The schedules API on the real app, PostgreSQL and Kafka, on an injected clock.

The policy file gives the L1 desk a weekly rotation (ann, then bob, handed over Monday 09:00
Berlin time, from Monday 5 January 2026): the clock starts on Monday 7 December 2026 at 11:00
Berlin time, week 48 of the rotation, ann's week.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from tierline_router.adapters.orm import ScheduleOverrideRow, ScheduleWatchRow
from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.domain.schedules import CalendarLayer, InvalidSchedule, Shift
from tierline_router.service_layer import placement, schedules
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.clock import FixedClock
from tierline_shared.errors import NotFound
from tierline_shared.events import IncidentCreated, topics
from tierline_shared.runtime import Runtime
from tierline_shared.testing import TopicReader, app_client, app_settings, eventually

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-router-schedules"
PROBLEM_JSON = "application/problem+json"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday, 11:00 in Berlin
WEEKLY = {"rotation": "weekly", "handoff": "09:00", "start": "2026-01-05"}
DESK_WEEK = {
    "name": "desk-week",
    "timezone": "Europe/Berlin",
    "layers": [{"name": "weekly", "members": ["ann", "bob"], **WEEKLY}],
}
POLICY: dict[str, Any] = {
    "agents": [{"name": n, "capacity": 5} for n in ("ann", "bob", "cat", "dan", "zoe")],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["ann", "bob"], "schedule": "desk-week"},
        {"name": "tech", "tier": "L2", "agents": ["cat", "dan"]},
        {"name": "experts", "tier": "L3", "agents": ["dan"]},
    ],
    "escalation_policies": [{"name": "rest", "ladder": [{"tier": "L1", "budget": "4h"}, {"tier": "L2"}]}],
    "schedules": [DESK_WEEK],
}
NIGHTS = {  # cat and dan, a day each, handed over at 02:30 local: a time the spring DST day skips
    "timezone": "Europe/Berlin",
    "layers": [
        {
            "name": "days",
            "members": ["cat", "dan"],
            "rotation": "daily",
            "handoff": "02:30",
            "start": "2026-03-01",
        }
    ],
}


@dataclass
class Router:
    http: httpx.AsyncClient
    runtime: Runtime
    clock: FixedClock
    topic_prefix: str
    bootstrap: str

    def reader(self) -> TopicReader:
        return TopicReader(self.bootstrap, [self.topic_prefix + topics.ROUTING])

    async def route(self) -> uuid.UUID:
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="Mailbox full",
            service="mail",
            category="email",
            priority="P3",
            channel="api",
            reporter="r@example.com",
            created_at=self.clock.now(),
        )
        deps = self.runtime.state["deps"]
        async with self.runtime.unit_of_work() as session:
            await placement.assign_new_incident(RouterUnitOfWork(session, deps.outbox), deps, event)
        return event.incident_id

    async def assignee(self, incident_id: uuid.UUID) -> str | None:
        return ok(await self.http.get(f"/v1/incidents/{incident_id}/assignment"))["assignee"]

    async def rows(self, row: type[Any]) -> list[Any]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(row))).all())


@pytest.fixture
async def router(infra, new_database, tmp_path: Path) -> AsyncIterator[Router]:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(POLICY))
    # the shift-watch loop looks at every schedule once at start, then not again within the test
    settings = app_settings(Settings, infra, url, tmp_path, api_key=ADMIN_KEY, shift_poll_seconds=3600)
    clock = FixedClock(T0)
    app = create_app(settings, clock=clock)
    async with app_client(app, ADMIN_KEY, base_url="http://router.test") as http:
        router = Router(http, app.state.runtime, clock, settings.kafka_topic_prefix, infra.bootstrap_servers)

        async def looked_at() -> bool:
            return all(w.check_at > T0 for w in await router.rows(ScheduleWatchRow))

        await eventually(looked_at, timeout=30, what="the shift-watch loop's first look at the schedules")
        yield router


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 answer with this status, naming ``field`` in its errors when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return body


async def test_a_queue_on_a_weekly_rotation_assigns_this_weeks_person_then_next_weeks(router: Router) -> None:
    first = await router.route()
    assert await router.assignee(first) == "ann"
    on = ok(await router.http.get("/v1/oncall", params={"queue": "desk"}))
    assert on == {
        "queue": "desk",
        "schedule": "desk-week",
        "at": "2026-12-07T10:00:00Z",
        "person": "ann",
        "until": "2026-12-14T08:00:00Z",  # Monday 09:00 CET
        "available": True,
    }
    router.clock.advance(timedelta(days=6, hours=21, minutes=59))  # Monday 14th, 08:59 in Berlin
    assert await router.assignee(await router.route()) == "ann"
    router.clock.advance(timedelta(minutes=1))  # 09:00: bob's week
    second = await router.route()
    assert await router.assignee(second) == "bob"
    assert await router.assignee(first) == "ann"  # held work stays (the handover worker decides moves)
    # an override is configuration too: the catalog's version moves and the next incident follows it
    cover = {"person": "ann", "start": "2026-12-14T08:00:00Z", "end": "2026-12-14T12:00:00Z"}
    ok(await router.http.post("/v1/schedules/desk-week/overrides", json=cover), 201)
    assert await router.assignee(await router.route()) == "ann"
    tech = ok(await router.http.get("/v1/oncall", params={"queue": "tech"}))
    assert (tech["schedule"], tech["person"], tech["until"]) == (None, None, None)
    problem(await router.http.get("/v1/oncall", params={"queue": "nope"}), 404)
    problem(await router.http.get("/v1/oncall"), 422, "queue")


async def test_schedules_are_made_replaced_and_deleted_with_events_and_watch_rows(router: Router) -> None:
    async with router.reader() as reader:
        made = await router.http.put("/v1/schedules/nights", json=NIGHTS)
        body = ok(made, 201)
        assert made.headers["location"] == "/v1/schedules/nights"
        assert (body["name"], body["timezone"], body["queues"], body["managed_by"]) == (
            "nights",
            "Europe/Berlin",
            [],
            "api",
        )
        assert body["layers"][0]["members"] == ["cat", "dan"]
        replaced = {**NIGHTS, "layers": [{**NIGHTS["layers"][0], "members": ["dan", "cat"]}]}
        assert ok(await router.http.put("/v1/schedules/nights", json=replaced))["layers"][0]["members"] == [
            "dan",
            "cat",
        ]
        listed = ok(await router.http.get("/v1/schedules"))
        assert [(s["name"], s["queues"], s["managed_by"]) for s in listed] == [
            ("desk-week", ["desk"], "config"),
            ("nights", [], "api"),
        ]
        assert {w.schedule: w.check_at for w in await router.rows(ScheduleWatchRow)} == {
            "desk-week": datetime(2026, 12, 14, 8, tzinfo=UTC),  # looked at on start: the next handoff
            "nights": T0,  # changed just now: due at once
        }
        deleted = await router.http.delete("/v1/schedules/nights")
        assert (deleted.status_code, deleted.content) == (204, b"")
        problem(await router.http.get("/v1/schedules/nights"), 404)
        problem(await router.http.delete("/v1/schedules/nights"), 404)
        assert [w.schedule for w in await router.rows(ScheduleWatchRow)] == ["desk-week"]
        changes = await eventually(
            lambda: [
                (e.data.schedule, e.data.change)
                for e in reader.of_type("tierline.schedule.changed.v1")
                if len(reader.of_type("tierline.schedule.changed.v1")) >= 4
            ],
            timeout=30,
            what="the schedule changes on the routing topic",
        )
    assert changes == [
        ("desk-week", "created"),
        ("nights", "created"),
        ("nights", "updated"),
        ("nights", "deleted"),
    ]
    assert all(e.subject == e.data.schedule for e in reader.of_type("tierline.schedule.changed.v1"))


async def test_who_is_on_call_and_the_shifts_across_the_berlin_dst_changes(router: Router) -> None:
    ok(await router.http.put("/v1/schedules/nights", json=NIGHTS), 201)

    async def on(at: str) -> dict[str, Any]:
        return ok(await router.http.get("/v1/schedules/nights/oncall", params={"at": at}))

    # 1 March cat, 2 March dan ... 29 March is day 28: cat from 03:00 CEST (02:30 does not exist)
    assert (await on("2026-03-29T00:59:59Z"))["person"] == "dan"
    spring = await on("2026-03-29T01:00:00Z")
    assert (spring["person"], spring["layer"], spring["until"]) == ("cat", "days", "2026-03-30T00:30:00Z")
    # 25 October (day 238: cat): 02:30 happens twice; the first (CEST, 00:30 UTC) hands over
    assert (await on("2026-10-25T00:29:00Z"))["person"] == "dan"
    autumn = await on("2026-10-25T00:30:00Z")
    assert (autumn["person"], autumn["until"]) == ("cat", "2026-10-26T01:30:00Z")  # 02:30 CET next day
    default = ok(await router.http.get("/v1/schedules/nights/oncall"))
    assert default["at"] == "2026-12-07T10:00:00Z"

    listed = ok(
        await router.http.get(
            "/v1/schedules/nights/shifts",
            params={"from": "2026-10-24T12:00:00+02:00", "to": "2026-10-26T12:00:00+01:00"},
        )
    )
    assert (listed["schedule"], listed["from"], listed["to"]) == (
        "nights",
        "2026-10-24T10:00:00Z",
        "2026-10-26T11:00:00Z",
    )
    assert [(s["person"], s["start"], s["end"], s["layer"]) for s in listed["shifts"]] == [
        ("dan", "2026-10-24T10:00:00Z", "2026-10-25T00:30:00Z", "days"),
        ("cat", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "days"),  # a 25-hour local day
        ("dan", "2026-10-26T01:30:00Z", "2026-10-26T11:00:00Z", "days"),
    ]
    week = ok(await router.http.get("/v1/schedules/desk-week/shifts"))  # default: now + 14 days
    assert [(s["person"], s["start"], s["end"]) for s in week["shifts"]] == [
        ("ann", "2026-12-07T10:00:00Z", "2026-12-14T08:00:00Z"),
        ("bob", "2026-12-14T08:00:00Z", "2026-12-21T08:00:00Z"),
        ("ann", "2026-12-21T08:00:00Z", "2026-12-21T10:00:00Z"),
    ]
    for params, field in [
        ({"from": "2026-10-24T12:00:00", "to": "2026-10-26T12:00:00+01:00"}, "from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-03-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ]:
        refused = problem(await router.http.get("/v1/schedules/nights/shifts", params=params), 422)
        assert field in [e["field"] for e in refused["errors"]], refused
    problem(await router.http.get("/v1/schedules/nights/oncall", params={"at": "2026-10-25T02:30"}), 422)
    problem(await router.http.get("/v1/schedules/ghost/oncall"), 404)


async def test_overrides_cover_a_span_and_are_listed_and_deleted(router: Router) -> None:
    async with router.reader() as reader:
        covering = {
            "person": "bob",
            "start": "2026-12-08T09:00:00+01:00",
            "end": "2026-12-09T09:00:00+01:00",
            "note": "ann's dentist",
        }
        made = await router.http.post("/v1/schedules/desk-week/overrides", json=covering)
        override = ok(made, 201)
        assert made.headers["location"] == f"/v1/schedules/desk-week/overrides/{override['id']}"
        assert (override["person"], override["start"], override["created_by"], override["note"]) == (
            "bob",
            "2026-12-08T08:00:00Z",
            "bootstrap",
            "ann's dentist",
        )
        during = ok(
            await router.http.get("/v1/schedules/desk-week/oncall", params={"at": "2026-12-08T12:00:00Z"})
        )
        assert (during["person"], during["layer"], during["until"]) == (
            "bob",
            "override",
            "2026-12-09T08:00:00Z",
        )
        later = {"person": "ann", "start": "2026-12-08T10:00:00Z", "end": "2026-12-08T11:00:00Z"}
        ok(await router.http.post("/v1/schedules/desk-week/overrides", json=later), 201)  # a later one wins
        assert (
            ok(
                await router.http.get("/v1/schedules/desk-week/oncall", params={"at": "2026-12-08T10:30:00Z"})
            )["person"]
            == "ann"
        )

        window = {"from": "2026-12-08T10:30:00Z", "to": "2026-12-08T12:00:00Z"}
        assert [
            o["person"] for o in ok(await router.http.get("/v1/schedules/desk-week/overrides", params=window))
        ] == ["bob", "ann"]
        after = {"from": "2026-12-08T11:00:00Z", "to": "2026-12-08T12:00:00Z"}
        assert [
            o["person"] for o in ok(await router.http.get("/v1/schedules/desk-week/overrides", params=after))
        ] == ["bob"]
        problem(
            await router.http.get(
                "/v1/schedules/desk-week/overrides", params={"from": "2026-12-08T11:00:00Z"}
            ),
            422,
            "to",
        )

        for body, field in [
            ({**covering, "person": "ghost"}, "person"),  # nobody by that name
            ({**covering, "person": "cat"}, "person"),  # not in the desk, which follows the schedule
            ({**covering, "end": "2027-12-10T09:00:00+01:00"}, "end"),  # longer than 366 days
            ({**covering, "end": "2026-12-08T08:00:00+01:00"}, "end"),  # ends before it starts
            ({**covering, "start": "2026-12-08T09:00:00"}, "start"),  # no offset
        ]:
            problem(await router.http.post("/v1/schedules/desk-week/overrides", json=body), 422, field)
        assert len(await router.rows(ScheduleOverrideRow)) == 2
        problem(await router.http.post("/v1/schedules/ghost/overrides", json=covering), 404)

        gone = await router.http.delete(f"/v1/schedules/desk-week/overrides/{override['id']}")
        assert gone.status_code == 204
        problem(await router.http.delete(f"/v1/schedules/desk-week/overrides/{override['id']}"), 404)
        problem(await router.http.delete("/v1/schedules/desk-week/overrides/not-a-uuid"), 422)
        during = ok(
            await router.http.get("/v1/schedules/desk-week/oncall", params={"at": "2026-12-08T12:00:00Z"})
        )
        assert (during["person"], during["layer"]) == ("ann", "weekly")
        await eventually(
            lambda: (
                len(
                    [
                        e
                        for e in reader.of_type("tierline.schedule.changed.v1")
                        if e.data.change == "overrides"
                    ]
                )
                == 3
            ),
            timeout=30,
            what="three override changes announced",
        )


async def test_instants_outside_the_years_answered_are_refused_naming_the_field(router: Router) -> None:
    ok(await router.http.put("/v1/schedules/nights", json=NIGHTS), 201)
    early, late = "0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00"  # overflow once in UTC
    for path, params, field in [
        ("/v1/schedules/nights/oncall", {"at": early}, "at"),
        ("/v1/schedules/nights/oncall", {"at": late}, "at"),
        ("/v1/oncall", {"queue": "desk", "at": late}, "at"),
        ("/v1/schedules/nights/shifts", {"from": early, "to": "2026-01-01T00:00:00Z"}, "from"),
        ("/v1/schedules/nights/shifts", {"from": "2026-01-01T00:00:00Z", "to": late}, "to"),
        ("/v1/schedules/nights/overrides", {"from": early, "to": "2026-01-01T00:00:00Z"}, "from"),
    ]:
        refused = problem(await router.http.get(path, params=params), 422)
        assert [e["field"] for e in refused["errors"]] == [field], (path, params, refused)
    for body, field in [
        ({"person": "cat", "start": early, "end": "2026-01-01T00:00:00Z"}, "start"),
        ({"person": "cat", "start": "9999-12-31T00:00:00Z", "end": late}, "start"),
    ]:
        refused = problem(await router.http.post("/v1/schedules/nights/overrides", json=body), 422)
        assert [e["field"] for e in refused["errors"]] == [field], (body, refused)
    # near the end of the years answered: answered (never an error naming a field nobody sent)
    last = ok(await router.http.get("/v1/schedules/nights/oncall", params={"at": "8999-12-31T00:00:00Z"}))
    assert last["person"] in {"cat", "dan"}
    listed = ok(await router.http.get("/v1/schedules/nights/shifts", params={"from": "8999-12-25T00:00:00Z"}))
    assert listed["shifts"][-1]["end"] == "9000-01-01T00:00:00Z"


async def test_bad_schedules_and_references_are_refused_and_nothing_is_written(router: Router) -> None:
    layer = NIGHTS["layers"][0]
    for body, field in [
        ({**NIGHTS, "timezone": "Europe/Atlantis"}, "timezone"),
        ({**NIGHTS, "layers": []}, "layers"),
        ({**NIGHTS, "layers": [{**layer, "shifts": []}]}, "layers.0"),
        (
            {
                **NIGHTS,
                "layers": [{**layer, "restrictions": [{"days": [], "start": "09:00", "end": "17:00"}]}],
            },
            "layers.0.restrictions.0.days",
        ),
        ({**NIGHTS, "layers": [{**layer, "handoff": "26:00"}]}, "layers.0.handoff"),
        ({**NIGHTS, "layers": [{**layer, "start": "someday"}]}, "layers.0.start"),
        ({**NIGHTS, "timezone": "Europe"}, "timezone"),
        ({**NIGHTS, "timezone": "localtime"}, "timezone"),
        ({**NIGHTS, "layers": [{**layer, "handoff": "24:00"}]}, "layers.0.handoff"),
        ({**NIGHTS, "layers": [layer, {"name": "holidays", "shifts": []}]}, "layers.1.shifts"),
        ({"layers": [layer]}, "timezone"),
    ]:
        problem(await router.http.put("/v1/schedules/nights", json=body), 422, field)
    problem(await router.http.get("/v1/schedules/nights"), 404)
    assert [s["name"] for s in ok(await router.http.get("/v1/schedules"))] == ["desk-week"]

    # the desk follows desk-week: cat is not one of its members
    stranger = {
        "timezone": "Europe/Berlin",
        "layers": [{"name": "weekly", "members": ["ann", "cat"], **WEEKLY}],
    }
    body = problem(await router.http.put("/v1/schedules/desk-week", json=stranger), 422, "layers.0.members.1")
    assert "desk" in body["detail"]
    assert ok(await router.http.get("/v1/schedules/desk-week"))["layers"][0]["members"] == ["ann", "bob"]

    unknown = {"tier": "L2", "agents": ["cat"], "schedule": "ghost"}
    problem(await router.http.put("/v1/queues/tech", json=unknown), 422, "schedule")
    ok(await router.http.put("/v1/schedules/nights", json=NIGHTS), 201)
    narrow = {"tier": "L2", "agents": ["cat"], "schedule": "nights"}  # dan is on call in nights too
    problem(await router.http.put("/v1/queues/tech", json=narrow), 422, "schedule")
    problem(await router.http.put("/v1/queues/tech", json={**narrow, "handover": "later"}), 422, "handover")
    assert ok(await router.http.get("/v1/queues/tech"))["schedule"] is None
    following = ok(
        await router.http.put(
            "/v1/queues/tech", json={**narrow, "agents": ["cat", "dan"], "handover": "reassign"}
        )
    )
    assert (following["schedule"], following["handover"]) == ("nights", "reassign")

    in_use = problem(await router.http.delete("/v1/schedules/nights"), 409)
    assert in_use["type"].endswith("/in-use") and in_use["queues"] == ["tech"]
    assert ok(await router.http.get("/v1/schedules/nights"))["queues"] == ["tech"]
    problem(await router.http.put("/v1/schedules/bad%20name", json=NIGHTS), 422)
    problem(await router.http.get("/v1/schedules", headers={"Authorization": ""}), 401)


async def test_an_imported_calendar_layer_goes_on_top_and_people_see_their_shifts(router: Router) -> None:
    deps = router.runtime.state["deps"]
    start = datetime(2026, 12, 24, 0, tzinfo=UTC)
    holidays = CalendarLayer("holidays", (Shift("bob", start, start + timedelta(days=2), "holidays"),))
    async with router.reader() as reader:
        async with router.runtime.unit_of_work() as session:
            schedule = await schedules.replace_layer(
                RouterUnitOfWork(session, deps.outbox), deps, "desk-week", holidays
            )
        assert [layer.name for layer in schedule.layers] == ["weekly", "holidays"]
        [imported] = await eventually(
            lambda: [
                e for e in reader.of_type("tierline.schedule.changed.v1") if e.data.change == "imported"
            ],
            timeout=30,
            what="the import announced",
        )
    assert imported.data.schedule == "desk-week"
    on = ok(await router.http.get("/v1/schedules/desk-week/oncall", params={"at": "2026-12-24T12:00:00Z"}))
    assert (on["person"], on["layer"], on["until"]) == ("bob", "holidays", "2026-12-26T00:00:00Z")
    assert [w.check_at for w in await router.rows(ScheduleWatchRow)] == [T0]

    stranger = CalendarLayer("holidays", (Shift("zoe", start, start + timedelta(days=1), "holidays"),))
    async with router.runtime.sessions() as session, session.begin():
        uow = RouterUnitOfWork(session, deps.outbox)
        with pytest.raises(InvalidSchedule) as refused:
            await schedules.replace_layer(uow, deps, "desk-week", stranger)
        assert refused.value.field == "layers.1.shifts.0.person"
        found = await schedules.people_shifts(
            uow, "bob", start - timedelta(days=1), start + timedelta(days=3)
        )
        assert [(name, s.start, s.end, s.layer) for name, s in found] == [
            ("desk-week", start, start + timedelta(days=2), "holidays")
        ]
        with pytest.raises(NotFound, match="no schedule 'ghost'"):
            await schedules.schedule_of(uow, "ghost")
