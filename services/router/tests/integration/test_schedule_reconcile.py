"""Schedules and queues changed while work is held, on the real app, PostgreSQL and Kafka.

The policy and clock are ``test_shift_changes``'s: office (cat, dan; ``keep``) follows
``office-hours``, cat's day on Monday 7 December 2026 at 11:00 Berlin time; desk and ops follow
``desk-week``, ann's week until Monday 14 December 09:00 Berlin time.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_router.domain.model import RoutingConfig
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.errors import IncompleteConfiguration
from tierline_shared.events import OncallShiftEnded, OncallShiftStarted

from . import test_shift_changes
from .test_shift_changes import HANDOFF, POLICY, T0, Router, Start

pytestmark = pytest.mark.integration
start = test_shift_changes.start  # the fixture starting the app on POLICY

OFFICE = {"tier": "L1", "agents": ["cat", "dan"], "schedule": "office-hours"}
DAN_COVERS = {"person": "dan", "start": "2026-12-07T10:00:00Z", "end": "2026-12-07T16:00:00Z"}
SPARE = {
    "timezone": "Europe/Berlin",
    "layers": [
        {"name": "all", "members": ["ann"], "rotation": "daily", "handoff": "09:00", "start": "2026-01-05"}
    ],
}


def _policy(queue: str, **changes: Any) -> dict[str, Any]:
    """POLICY with ``changes`` made to queue ``queue``."""
    policy = copy.deepcopy(POLICY)
    for entry in policy["queues"]:
        if entry["name"] == queue:
            entry.update(changes)
    return policy


async def _apply(router: Router, policy: dict[str, Any]) -> None:
    """Apply a policy file, as the router does at start."""
    async with router.runtime.unit_of_work() as session:
        uow = RouterUnitOfWork(session, router.deps.outbox)
        await admin.apply_config(uow, router.deps, RoutingConfig.model_validate(policy))


async def _covered_by_dan(router: Router) -> None:
    """Dan covers cat's Monday by an override: office (``keep``) leaves cat's work with her."""
    answer = await router.http.post("/v1/schedules/office-hours/overrides", json=DAN_COVERS)
    assert answer.status_code == 201, answer.text


async def _shift_events(router: Router, schedule: str) -> list[tuple[str, str, datetime]]:
    return [
        (type(e).__name__.removeprefix("OncallShift"), e.person, e.at)
        for e in await router.staged()
        if isinstance(e, OncallShiftStarted | OncallShiftEnded) and e.schedule == schedule
    ]


async def test_a_queue_switched_to_reassign_through_the_api_hands_held_work_to_whoever_is_on_call(
    start: Start,
) -> None:
    router = await start()
    printer = await router.route("printer")
    assert await router.holders(printer) == ["cat"]
    await _covered_by_dan(router)
    assert await router.holders(printer) == ["cat"]  # office keeps

    router.clock.advance(timedelta(minutes=5))
    answer = await router.http.put("/v1/queues/office", json={**OFFICE, "handover": "reassign"})
    assert answer.status_code == 200, answer.text
    assert await router.holders(printer) == ["dan"]
    assert await router.reasons(printer) == [("cat", "routed"), ("dan", "shift_change")]
    assert (await router.watch("office-hours")).check_at == router.clock.now()  # looked at again

    router.clock.advance(timedelta(minutes=5))  # the same queue again: no change, nothing moves
    answer = await router.http.put("/v1/queues/office", json={**OFFICE, "handover": "reassign"})
    assert answer.status_code == 200, answer.text
    assert await router.reasons(printer) == [("cat", "routed"), ("dan", "shift_change")]
    assert (await router.watch("office-hours")).check_at < router.clock.now()


async def test_the_policy_file_switching_a_queue_to_reassign_hands_held_work_over(start: Start) -> None:
    router = await start()
    printer = await router.route("printer")
    await _covered_by_dan(router)
    router.clock.advance(timedelta(minutes=5))

    await _apply(router, POLICY)  # unchanged: nothing moves
    assert await router.holders(printer) == ["cat"]
    await _apply(router, _policy("office", handover="reassign"))
    assert await router.holders(printer) == ["dan"]
    assert await router.reasons(printer) == [("cat", "routed"), ("dan", "shift_change")]
    assert (await router.watch("office-hours")).check_at == router.clock.now()


async def test_the_policy_file_giving_a_reassign_queue_another_schedule_hands_held_work_over(
    start: Start,
) -> None:
    router = await start()
    printer = await router.route("printer")
    policy = _policy("office", handover="reassign")
    policy["schedules"].append(
        {**SPARE, "name": "dan-only", "layers": [{**SPARE["layers"][0], "members": ["dan"]}]}
    )
    await _apply(router, policy)
    assert await router.holders(printer) == ["cat"]  # cat is on call in office-hours

    router.clock.advance(timedelta(minutes=5))
    policy["queues"][2]["schedule"] = "dan-only"
    await _apply(router, policy)
    assert await router.holders(printer) == ["dan"]
    assert await router.reasons(printer) == [("cat", "routed"), ("dan", "shift_change")]
    assert (await router.watch("dan-only")).check_at == router.clock.now()


async def test_a_gap_leaves_held_work_with_the_outgoing_person_until_someone_comes_on_shift(
    start: Start,
) -> None:
    router = await start()
    await _apply(router, _policy("office", handover="reassign"))
    printer = await router.route("printer")
    assert await router.holders(printer) == ["cat"]

    router.clock.advance(timedelta(hours=6, minutes=30))  # Monday 17:30 in Berlin: nobody on call
    await router.look()
    assert await router.holders(printer) == ["cat"]  # kept, not torn away to wait for nobody
    assert await router.reasons(printer) == [("cat", "routed")]
    evening = datetime(2026, 12, 7, 16, tzinfo=UTC)
    assert (await _shift_events(router, "office-hours"))[1:] == [("Ended", "cat", evening)]  # not 16:30
    assert (await router.watch("office-hours")).since == evening

    router.clock.advance(timedelta(hours=15, minutes=30))  # Tuesday 09:00: dan's day
    await router.look()
    assert await router.holders(printer) == ["dan"]
    assert await router.reasons(printer) == [("cat", "routed"), ("dan", "shift_change")]


async def test_a_late_look_dates_the_change_at_the_boundary_it_found(start: Start) -> None:
    router = await start()
    router.clock.advance(HANDOFF - T0 + timedelta(minutes=7))
    assert await router.look() == 2
    assert (await _shift_events(router, "desk-week"))[1:] == [
        ("Ended", "ann", HANDOFF),
        ("Started", "bob", HANDOFF),
    ]
    assert (await router.watch("desk-week")).since == HANDOFF
    # office hours: cat's Monday ended a week ago, dan's Monday began at 09:00 today
    assert (await _shift_events(router, "office-hours"))[1:] == [
        ("Ended", "cat", HANDOFF),
        ("Started", "dan", HANDOFF),
    ]


async def test_deleting_a_schedule_ends_the_shift_of_whoever_was_on_call(start: Start) -> None:
    router = await start()
    assert (await router.http.put("/v1/schedules/spare", json=SPARE)).status_code == 201
    assert (await router.http.put("/v1/schedules/unseen", json=SPARE)).status_code == 201
    await router.look()  # spare and unseen: ann on call
    assert await _shift_events(router, "spare") == [("Started", "ann", T0)]
    await router.http.put("/v1/schedules/unseen", json=SPARE)  # not looked at since: still ann

    router.clock.advance(timedelta(hours=1))
    assert (await router.http.delete("/v1/schedules/spare")).status_code == 204
    assert await _shift_events(router, "spare") == [
        ("Started", "ann", T0),
        ("Ended", "ann", router.clock.now()),
    ]
    ended = [e for e in await router.staged() if isinstance(e, OncallShiftEnded) and e.schedule == "spare"]
    assert ended[0].queues == []
    assert (await router.http.delete("/v1/schedules/unseen")).status_code == 204
    assert await _shift_events(router, "unseen") == [
        ("Started", "ann", T0),
        ("Ended", "ann", router.clock.now()),
    ]

    never = await router.http.put("/v1/schedules/never", json=SPARE)  # nobody seen on call yet
    assert never.status_code == 201
    assert (await router.http.delete("/v1/schedules/never")).status_code == 204
    assert await _shift_events(router, "never") == []


async def test_the_policy_file_cannot_take_someone_with_a_running_override_out_of_the_queue(
    start: Start,
) -> None:
    router = await start()
    await _apply(router, _policy("office", agents=["cat", "dan", "ann"]))
    cover = {"person": "ann", "start": "2026-12-08T10:00:00Z", "end": "2026-12-09T10:00:00Z"}
    answer = await router.http.post("/v1/schedules/office-hours/overrides", json=cover)
    assert answer.status_code == 201, answer.text

    with pytest.raises(IncompleteConfiguration) as refused:
        await _apply(router, POLICY)  # ann out of office: her override still to come
    assert "override" in refused.value.detail and "'ann'" in refused.value.detail
    assert "'office'" in refused.value.detail and "2026-12-08T10:00:00+00:00" in refused.value.detail
    assert (await router.http.get("/v1/queues/office")).json()["agents"] == ["cat", "dan", "ann"]

    router.clock.advance(timedelta(days=2))  # the override is over: it no longer matters
    await _apply(router, POLICY)
    assert (await router.http.get("/v1/queues/office")).json()["agents"] == ["cat", "dan"]
