"""The calendar API on the real app, PostgreSQL and Kafka: .ics exports, feed tokens and imports.

The router runs on a fixed clock (Monday 2026-03-02 12:00 UTC), so what "now" shows is known;
the Berlin rotation's shifts cross the spring DST change of 2026-03-29.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import icalendar
import pytest
import yaml
from sqlalchemy import select

from tierline_router.adapters.ical import MAX_ICS_BYTES
from tierline_router.adapters.orm import outbox
from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.domain.model import RoutingConfig
from tierline_router.domain.schedules import CalendarLayer, InvalidSchedule, Shift, shifts
from tierline_router.domain.schedules.spec import ScheduleSpec
from tierline_router.entrypoints import calendar_api
from tierline_router.service_layer import admin, schedules
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import ScheduleChanged
from tierline_shared.messaging import cloudevents
from tierline_shared.runtime import Runtime
from tierline_shared.testing import app_client, app_settings, asgi_client, issue_api_key

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-router-calendar-tests"
LINK_SECRET = "test-link-secret-for-router-calendar-feeds"
PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
BASE = "http://router.test"
L2 = {
    "name": "l2",
    "timezone": "Europe/Berlin",
    "layers": [
        {
            "name": "week",
            "members": ["ann", "bob"],
            "rotation": "weekly",
            "handoff": "09:00",
            "start": "2026-01-05",
        }
    ],
}
NIGHT = {
    "name": "night",
    "timezone": "America/New_York",
    "layers": [
        {
            "name": "nights",
            "members": ["bob"],
            "rotation": "daily",
            "handoff": "18:00",
            "start": "2026-01-01",
            "restrictions": [{"days": ["sat"], "start": "18:00", "end": "06:00"}],
        }
    ],
}
POLICY: dict[str, Any] = {
    "agents": [{"name": "ann"}, {"name": "bob"}, {"name": "cat"}],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["ann", "bob", "cat"], "schedule": "l2"},
        {"name": "tech", "tier": "L2", "agents": ["ann"]},
        {"name": "experts", "tier": "L3", "agents": ["bob"]},
    ],
    "escalation_policies": [{"name": "rest", "ladder": [{"tier": "L1"}]}],
    "schedules": [L2, NIGHT],
}
# cat covers every Saturday (all day, Berlin) for four weeks from 2026-03-07
HOLIDAYS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//elsewhere//EN\r\nBEGIN:VEVENT\r\nUID:sat@elsewhere\r\n"
    b"DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260307\r\nDTEND;VALUE=DATE:20260308\r\n"
    b"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekend cover\r\nATTENDEE;CN=Cat:mailto:cat@example.com\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ICS = {"Content-Type": "text/calendar"}


@dataclass
class Router:
    http: httpx.AsyncClient  # admin key
    anonymous: httpx.AsyncClient
    runtime: Runtime

    async def changes(self) -> list[str]:
        async with self.runtime.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
        events = [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]
        return [e.change for e in events if isinstance(e, ScheduleChanged)]

    async def apply(self, policy: dict[str, Any]) -> None:
        """Apply a policy file, as the router does at every start."""
        deps = self.runtime.state["deps"]
        async with self.runtime.unit_of_work() as session:
            uow = RouterUnitOfWork(session, deps.outbox)
            await admin.apply_config(uow, deps, RoutingConfig.model_validate(policy))

    async def oncall(self, at: str) -> tuple[str | None, str | None]:
        response = await self.http.get("/v1/schedules/l2/oncall", params={"at": at})
        assert response.status_code == 200, response.text
        return response.json()["person"], response.json()["layer"]

    async def schedule(self) -> Any:
        response = await self.http.get("/v1/schedules/l2")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def router(infra, new_database, tmp_path: Path) -> AsyncIterator[Router]:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(POLICY))
    settings = app_settings(
        Settings,
        infra,
        url,
        tmp_path,
        api_key=ADMIN_KEY,
        link_secret=LINK_SECRET,
    )
    app = create_app(settings, clock=FixedClock(NOW))
    async with (
        app_client(app, ADMIN_KEY, base_url=BASE) as http,
        asgi_client(app, base_url=BASE) as anonymous,
    ):
        yield Router(http, anonymous, app.state.runtime)


def _events(response: httpx.Response) -> list[icalendar.Event]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    return list(calendar.walk("VEVENT"))


def _pieces(events: list[icalendar.Event]) -> set[tuple[str, datetime, datetime]]:
    return {(str(e["X-TIERLINE-PERSON"]), e.decoded("DTSTART"), e.decoded("DTEND")) for e in events}


def _problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    if slug is not None:
        assert body["type"] == f"https://tierline.dev/problems/{slug}", body
    return body


def _fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


# --- export -----------------------------------------------------------------------------------


async def test_schedule_export_parses_back_to_the_schedules_shifts(router: Router) -> None:
    start, end = datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)
    response = await router.http.get(
        "/v1/schedules/l2.ics", params={"from": start.isoformat(), "to": end.isoformat()}
    )
    events = _events(response)
    assert response.headers["content-disposition"] == 'inline; filename="l2.ics"'
    # every shift overlapping the range, whole: not cut at its edges (a turn lasts a week)
    week = timedelta(days=7)
    expected = shifts(ScheduleSpec.model_validate(L2).to_domain(), start - week, end + week)
    assert _pieces(events) == {
        (s.person, s.start, s.end) for s in expected if s.end > start and s.start < end
    }
    assert min(e.decoded("DTSTART") for e in events) == datetime(2026, 3, 9, 8, tzinfo=UTC) < start
    assert {e.decoded("DTSTART").hour for e in events} >= {8, 7}  # 09:00 Berlin before and after DST
    assert {str(e["X-TIERLINE-SCHEDULE"]) for e in events} == {"l2"}

    default = _events(await router.http.get("/v1/schedules/l2.ics"))  # 30 days back, 180 ahead
    starts, ends = [e.decoded("DTSTART") for e in default], [e.decoded("DTEND") for e in default]
    # whole shifts overlapping the range: the first and last are not cut at its edges
    assert min(starts) == datetime(2026, 1, 26, 8, tzinfo=UTC) < NOW - timedelta(days=30)  # Mon 09:00
    assert max(ends) == datetime(2026, 8, 31, 7, tzinfo=UTC) > NOW + timedelta(days=180)  # CEST
    later = NOW - timedelta(days=30) + timedelta(hours=5)  # a read five hours on: the same events
    moved = _events(await router.http.get("/v1/schedules/l2.ics", params={"from": later.isoformat()}))
    assert (
        min(moved, key=lambda e: e.decoded("DTSTART"))["UID"]
        == min(default, key=lambda e: e.decoded("DTSTART"))["UID"]
    )
    assert _pieces(moved) <= _pieces(default) | _pieces(moved[-1:])

    for params, field in [
        ({"from": "2026-03-10T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-03-01T00:00:00Z"}, "to"),
        ({"from": "2026-03-10T00:00:00"}, "from"),
    ]:
        refused = _problem(await router.http.get("/v1/schedules/l2.ics", params=params), 422)
        assert _fields(refused) == [field], refused
    _problem(await router.http.get("/v1/schedules/nope.ics"), 404, "not-found")
    _problem(await router.anonymous.get("/v1/schedules/l2.ics"), 401)
    # the schedule itself, as JSON, is still what /v1/schedules/l2 answers
    assert (await router.schedule())["name"] == "l2"


async def test_a_persons_export_spans_every_schedule(router: Router) -> None:
    response = await router.http.get(
        "/v1/people/bob/shifts.ics", params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-23T00:00:00Z"}
    )
    events = _events(response)
    assert response.headers["content-disposition"] == 'inline; filename="bob-shifts.ics"'
    assert {str(e["X-TIERLINE-PERSON"]) for e in events} == {"bob"}
    assert {str(e["X-TIERLINE-SCHEDULE"]) for e in events} == {"l2", "night"}
    nights = sorted(e.decoded("DTSTART") for e in events if str(e["X-TIERLINE-SCHEDULE"]) == "night")
    # Saturdays 18:00 New York: EST, then EDT from March 8
    assert nights == [datetime(2026, 3, d, h, tzinfo=UTC) for d, h in ((7, 23), (14, 22), (21, 22))]
    nothing = _events(await router.http.get("/v1/people/cat/shifts.ics"))
    assert nothing == []
    _problem(await router.http.get("/v1/people/ghost/shifts.ics"), 404)


# --- feed tokens ------------------------------------------------------------------------------


async def test_a_feed_token_opens_its_own_calendar_without_a_key_and_nothing_else(router: Router) -> None:
    url = (await router.http.get("/v1/schedules/l2/feed")).json()["url"]
    assert url.startswith(f"{BASE}/v1/schedules/l2.ics?token=")
    path = url.removeprefix(BASE)
    with_token = _events(await router.anonymous.get(path))
    with_key = _events(await router.http.get("/v1/schedules/l2.ics"))
    assert _pieces(with_token) == _pieces(with_key) and with_token

    person_url = (await router.http.get("/v1/people/bob/feed")).json()["url"]
    assert person_url.startswith(f"{BASE}/v1/people/bob/shifts.ics?token=")
    assert {str(e["X-TIERLINE-PERSON"]) for e in _events(await router.anonymous.get(person_url))} == {"bob"}

    token = path.split("token=", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    _problem(
        await router.anonymous.get("/v1/schedules/l2.ics", params={"token": tampered}), 401, "unauthorized"
    )
    _problem(await router.anonymous.get("/v1/schedules/l2.ics", params={"token": "not-a-token"}), 401)
    person_token = person_url.split("token=", 1)[1]
    _problem(
        await router.anonymous.get("/v1/schedules/l2.ics", params={"token": person_token}), 403, "forbidden"
    )
    _problem(await router.anonymous.get("/v1/people/ann/shifts.ics", params={"token": person_token}), 403)
    _problem(await router.anonymous.get("/v1/schedules/l2/feed"), 401)
    _problem(await router.http.get("/v1/schedules/nope/feed"), 404)
    _problem(await router.http.get("/v1/people/ghost/feed"), 404)


# --- import -----------------------------------------------------------------------------------


async def test_an_import_becomes_the_top_layer_and_decides_who_is_on_call(router: Router) -> None:
    saturday = "2026-03-14T12:00:00Z"
    announced = await router.changes()  # the schedules the policy file created
    before = (await router.http.get("/v1/schedules/l2/oncall", params={"at": saturday})).json()
    assert before["person"] == "bob"  # the rotation's tenth week (from 2026-03-09 09:00)

    response = await router.http.post("/v1/schedules/l2/import?layer=holidays", content=HOLIDAYS, headers=ICS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "schedule": "l2",
        "layer": "holidays",
        "shifts": 4,
        "first_start": "2026-03-06T23:00:00Z",
        "last_start": "2026-03-27T23:00:00Z",
    }
    after = (await router.http.get("/v1/schedules/l2/oncall", params={"at": saturday})).json()
    assert (after["person"], after["layer"]) == ("cat", "holidays")
    weekday = (await router.http.get("/v1/schedules/l2/oncall", params={"at": "2026-03-16T12:00:00Z"})).json()
    assert weekday["person"] == "ann"  # the rotation still has the week
    assert [layer["name"] for layer in (await router.schedule())["layers"]] == ["week", "holidays"]
    assert await router.changes() == [*announced, "imported"]

    # importing the layer again replaces it; the export shows the new pieces
    again = HOLIDAYS.replace(b"COUNT=4", b"COUNT=1")
    response = await router.http.post("/v1/schedules/l2/import?layer=holidays", content=again, headers=ICS)
    assert response.json()["shifts"] == 1
    layers = (await router.schedule())["layers"]
    assert [layer["name"] for layer in layers] == ["week", "holidays"] and len(layers[1]["shifts"]) == 1
    exported = _events(await router.http.get("/v1/people/cat/shifts.ics"))
    assert _pieces(exported) == {
        ("cat", datetime(2026, 3, 6, 23, tzinfo=UTC), datetime(2026, 3, 7, 23, tzinfo=UTC))
    }


async def test_an_imported_layer_stays_when_the_policy_file_is_applied_again(router: Router) -> None:
    saturday = "2026-03-14T12:00:00Z"
    response = await router.http.post("/v1/schedules/l2/import?layer=holidays", content=HOLIDAYS, headers=ICS)
    assert response.status_code == 200, response.text
    announced = await router.changes()

    await router.apply(POLICY)  # a restart: the file declares l2 with its rotation only
    assert [layer["name"] for layer in (await router.schedule())["layers"]] == ["week", "holidays"]
    assert await router.oncall(saturday) == ("cat", "holidays")
    assert await router.changes() == announced  # nothing changed, nothing announced

    later = {**L2, "layers": [{**L2["layers"][0], "handoff": "10:00"}]}  # the file's own layer changes
    await router.apply({**POLICY, "schedules": [later, NIGHT]})
    layers = (await router.schedule())["layers"]
    assert [(layer["name"], layer.get("handoff")) for layer in layers] == [
        ("week", "10:00"),
        ("holidays", None),
    ]
    assert len(layers[1]["shifts"]) == 4
    assert await router.oncall(saturday) == ("cat", "holidays")
    assert await router.changes() == [*announced, "updated"]

    # a layer the file declares by that name is the file's
    declared = {**L2, "layers": [*L2["layers"], {**L2["layers"][0], "name": "holidays", "members": ["ann"]}]}
    await router.apply({**POLICY, "schedules": [declared, NIGHT]})
    layers = (await router.schedule())["layers"]
    assert [(layer["name"], layer.get("members")) for layer in layers] == [
        ("week", ["ann", "bob"]),
        ("holidays", ["ann"]),
    ]
    assert await router.oncall(saturday) == ("ann", "holidays")


async def test_an_import_racing_a_change_of_its_layer_is_checked_when_it_is_written(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = calendar_api.run_in_threadpool
    rotating = {
        "timezone": L2["timezone"],
        "layers": [*L2["layers"], {**L2["layers"][0], "name": "holidays", "members": ["cat"]}],
    }

    async def racing(read: Any) -> Any:  # a PUT commits while the file is being read
        changed = await router.http.put("/v1/schedules/l2", json=rotating)
        assert changed.status_code == 200, changed.text
        return await real(read)

    monkeypatch.setattr(calendar_api, "run_in_threadpool", racing)
    refused = _problem(
        await router.http.post("/v1/schedules/l2/import?layer=holidays", content=HOLIDAYS, headers=ICS), 422
    )
    assert _fields(refused) == ["layer"] and "rotating" in refused["errors"][0]["reason"]
    layers = (await router.schedule())["layers"]
    assert [(layer["name"], layer.get("members"), layer.get("shifts")) for layer in layers] == [
        ("week", ["ann", "bob"], None),
        ("holidays", ["cat"], None),
    ]

    # all-day events were read in Berlin time: a schedule moved to New York meanwhile is a conflict
    moved = {"timezone": "America/New_York", "layers": L2["layers"]}
    monkeypatch.setattr(
        calendar_api,
        "run_in_threadpool",
        lambda read: _after(router.http.put("/v1/schedules/l2", json=moved), real, read),
    )
    changed = _problem(
        await router.http.post("/v1/schedules/l2/import?layer=imported", content=HOLIDAYS, headers=ICS), 409
    )
    assert changed["type"].endswith("/schedule-changed") and changed["timezone"] == "America/New_York"
    assert [layer["name"] for layer in (await router.schedule())["layers"]] == ["week"]

    # the use case itself refuses a rotating layer's name, in the transaction that would write
    deps = router.runtime.state["deps"]
    piece = Shift("cat", NOW, NOW + timedelta(days=1), "week")
    async with router.runtime.sessions() as session, session.begin():
        with pytest.raises(InvalidSchedule) as refusal:
            await schedules.replace_layer(
                RouterUnitOfWork(session, deps.outbox), deps, "l2", CalendarLayer("week", (piece,))
            )
    assert refusal.value.field == "layer"


async def _after(first: Any, real: Any, read: Any) -> Any:
    assert (await first).status_code == 200
    return await real(read)


async def test_an_imported_person_outside_the_queue_is_named_by_the_event(router: Router) -> None:
    made = await router.http.post("/v1/agents", json={"name": "dora"})
    assert made.status_code == 201, made.text
    two = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//elsewhere//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:b@elsewhere\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260314\r\n"
        b"DTEND;VALUE=DATE:20260315\r\nSUMMARY:dora\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:a@elsewhere\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260307\r\n"
        b"DTEND;VALUE=DATE:20260308\r\nSUMMARY:cat\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    schedule, announced = await router.schedule(), await router.changes()
    refused = _problem(await router.http.post("/v1/schedules/l2/import", content=two, headers=ICS), 422)
    assert _fields(refused) == ["events.1.person"], refused  # events by start: cat's, then dora's
    assert "'dora'" in refused["errors"][0]["reason"] and "'desk'" in refused["errors"][0]["reason"]
    assert await router.schedule() == schedule
    assert await router.changes() == announced


async def test_an_import_larger_than_other_request_bodies_is_taken(router: Router) -> None:
    """The services refuse bodies over 256 KiB; an import takes files up to 1 MiB."""
    padding = b"X-PAD:" + b"a" * 70 + b"\r\n"
    large = HOLIDAYS.replace(b"END:VCALENDAR", padding * (900 * 1024 // len(padding)) + b"END:VCALENDAR")
    assert Settings.model_fields["max_body_bytes"].default < len(large) <= MAX_ICS_BYTES
    response = await router.http.post("/v1/schedules/l2/import?layer=holidays", content=large, headers=ICS)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["shifts"] == 4


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def test_refused_imports_write_nothing(router: Router) -> None:
    schedule, announced = await router.schedule(), await router.changes()
    padding = b"X-PAD:" + b"a" * 70 + b"\r\n"
    oversize = HOLIDAYS.replace(
        b"END:VCALENDAR", padding * (MAX_ICS_BYTES // len(padding) + 1) + b"END:VCALENDAR"
    )
    assert len(oversize) > MAX_ICS_BYTES

    refused = _problem(await router.http.post("/v1/schedules/l2/import", content=oversize, headers=ICS), 422)
    assert _fields(refused) == ["file"] and "1 MiB" in refused["errors"][0]["reason"]
    chunked = await router.http.post("/v1/schedules/l2/import", content=_chunks(oversize), headers=ICS)
    assert _fields(_problem(chunked, 422)) == ["file"]
    # far beyond any calendar: the server does not even read it
    huge = await router.http.post("/v1/schedules/l2/import", content=oversize * 5, headers=ICS)
    assert _problem(huge, 413, "payload-too-large")["max_bytes"] == 4 * MAX_ICS_BYTES

    for body, field in [
        (b"this is not a calendar", "file"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "file"),
        (
            HOLIDAYS.replace(b"ATTENDEE;CN=Cat:mailto:cat@example.com", b"X-TIERLINE-PERSON:zed"),
            "events.0.person",
        ),
    ]:
        refused = _problem(await router.http.post("/v1/schedules/l2/import", content=body, headers=ICS), 422)
        assert _fields(refused) == [field], refused

    rotating = await router.http.post("/v1/schedules/l2/import?layer=week", content=HOLIDAYS, headers=ICS)
    assert _fields(_problem(rotating, 422)) == ["layer"]
    _problem(
        await router.http.post("/v1/schedules/l2/import?layer=bad name", content=HOLIDAYS, headers=ICS), 422
    )
    _problem(await router.http.post("/v1/schedules/l2/import", content=HOLIDAYS), 415)
    _problem(await router.http.post("/v1/schedules/nope/import", content=HOLIDAYS, headers=ICS), 404)
    reader = await issue_api_key(router.runtime, ["incidents:read"])
    denied = await router.anonymous.post(
        "/v1/schedules/l2/import", content=HOLIDAYS, headers={**ICS, **reader}
    )
    _problem(denied, 403)
    _problem(await router.anonymous.post("/v1/schedules/l2/import", content=HOLIDAYS, headers=ICS), 401)

    assert await router.schedule() == schedule
    assert await router.changes() == announced
