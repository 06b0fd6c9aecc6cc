"""The SLA engine on real PostgreSQL across business calendars: warnings, pauses and priority changes.

Office hours are Europe/Berlin 09:00-17:00 Mon-Fri (CET, UTC+1 in late November 2026); P3 runs on
them (response 4 h, resolution 16 h), P1/P2 run 24x7. Every expected instant is worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tierline_shared.events import (
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaRecalculated,
    SlaWarning,
)
from tierline_sla_monitor.service_layer import clocks

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday
H = timedelta(hours=1)
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(local: str) -> datetime:
    """A Berlin wall-clock moment ("2026-11-27 16:00"), as UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=BERLIN).astimezone(UTC)


def summary(events: list) -> list[tuple]:
    """What a reader of the SLA topic cares about: which clock, what happened, at which threshold."""
    out = []
    for e in events:
        if isinstance(e, SlaWarning):
            out.append((e.clock, "warning", e.threshold, e.remaining_seconds))
        elif isinstance(e, SlaBreached):
            out.append((e.clock, "breached", e.due_at, e.breached_at))
        else:
            out.append((e.clock, type(e).__name__))
    return out


# --- 1. business calendar end to end ----------------------------------------------------------------


async def test_p3_created_friday_afternoon_warns_and_breaches_across_the_weekend_once_each(harness) -> None:
    created = berlin("2026-11-27 16:00")  # Friday 16:00: one business hour left this week
    harness.at(created)
    incident = await harness.create("P3", at=created)
    started = {e.clock: e.due_at for e in await harness.published(SlaClockStarted)}
    # response 4 h = Fri 1 h + Mon 3 h; resolution 16 h = Fri 1 h + Mon 8 h + Tue 7 h
    assert started == {"response": berlin("2026-11-30 12:00"), "resolution": berlin("2026-12-01 16:00")}
    rows = await harness.clocks(incident)
    assert (rows["resolution"].calendar, rows["resolution"].policy) == ("office", "p3")

    steps = [
        (berlin("2026-11-27 16:59"), []),
        (berlin("2026-11-28 12:00"), []),  # Saturday: closed, nothing counts
        (berlin("2026-11-30 10:59:59"), []),
        (berlin("2026-11-30 11:00"), [("response", "warning", 0.75, 3600.0)]),
        (berlin("2026-11-30 11:00"), []),  # polled again at the same instant: nothing twice
        (berlin("2026-11-30 11:36"), [("response", "warning", 0.9, 1440.0)]),
        (
            berlin("2026-11-30 12:00"),
            [("response", "breached", berlin("2026-11-30 12:00"), berlin("2026-11-30 12:00"))],
        ),
        (berlin("2026-12-01 11:59:59"), []),
        (berlin("2026-12-01 12:00"), [("resolution", "warning", 0.75, 14400.0)]),  # 12 h of 16 h
        (berlin("2026-12-01 14:24"), [("resolution", "warning", 0.9, 5760.0)]),  # 14 h 24 min of 16 h
        (
            berlin("2026-12-01 16:00"),
            [("resolution", "breached", berlin("2026-12-01 16:00"), berlin("2026-12-01 16:00"))],
        ),
        (berlin("2026-12-02 16:00"), []),
        (berlin("2026-12-07 16:00"), []),
    ]
    await harness.new_events()
    for moment, expected in steps:
        await harness.fire(moment)
        assert summary(await harness.new_events()) == expected, moment

    warnings = await harness.published(SlaWarning, incident)
    assert [(w.clock, w.elapsed_seconds, w.due_at, w.at) for w in warnings] == [
        ("response", 10800.0, berlin("2026-11-30 12:00"), berlin("2026-11-30 11:00")),
        ("response", 12960.0, berlin("2026-11-30 12:00"), berlin("2026-11-30 11:36")),
        ("resolution", 43200.0, berlin("2026-12-01 16:00"), berlin("2026-12-01 12:00")),
        ("resolution", 51840.0, berlin("2026-12-01 16:00"), berlin("2026-12-01 14:24")),
    ]
    rows = await harness.clocks(incident)
    assert {k: (r.state, r.warned) for k, r in rows.items()} == {
        "response": ("breached", 2),
        "resolution": ("breached", 2),
    }
    assert rows["resolution"].elapsed_seconds == 16 * 3600


async def test_a_poller_that_was_down_announces_each_passed_warning_once_then_the_breach(harness) -> None:
    created = berlin("2026-11-27 16:00")
    incident = await harness.create("P3", at=created)
    await harness.run(clocks.stop_response_clock, harness.deps, incident, created)
    await harness.new_events()
    # the poller comes back Tuesday 15:00 (15 h of 16 h spent): both warnings are due, the breach not yet
    await harness.fire(berlin("2026-12-01 15:00"))
    assert summary(await harness.new_events()) == [
        ("resolution", "warning", 0.75, 3600.0),
        ("resolution", "warning", 0.9, 3600.0),
    ]
    await harness.fire(berlin("2026-12-01 16:00"))
    assert [s[:2] for s in summary(await harness.new_events())] == [("resolution", "breached")]


# --- 2. pause and resume ------------------------------------------------------------------------------


async def test_hold_pauses_resolution_and_tier_until_resumed_and_shifts_due_by_the_paused_time(
    harness,
) -> None:
    incident = await harness.create("P2")  # 24x7: resolution 8 h
    await harness.run(
        clocks.restart_tier_clock, harness.deps, incident_id=incident, tier="L1", budget_seconds=7200, at=T0
    )
    await harness.run(clocks.stop_response_clock, harness.deps, incident, T0 + timedelta(minutes=10))
    before = await harness.clocks(incident)
    await harness.new_events()

    held = T0 + H
    await harness.run(clocks.pause_for_hold, harness.deps, incident, "awaiting_customer", held)
    await harness.run(clocks.pause_for_hold, harness.deps, incident, "awaiting_customer", held)  # redelivery
    paused = await harness.new_events()
    assert all(isinstance(e, SlaClockPaused) for e in paused)
    assert sorted((e.clock, e.reason, e.elapsed_seconds, e.remaining_seconds, e.at) for e in paused) == [
        ("resolution", "awaiting_customer", 3600.0, 25200.0, held),
        ("tier", "awaiting_customer", 3600.0, 3600.0, held),
    ]
    rows = await harness.clocks(incident)
    assert {k: (r.state, r.due_at, r.fire_at) for k, r in rows.items() if k != "response"} == {
        "resolution": ("paused", None, None),
        "tier": ("paused", None, None),
    }

    # long past both old due times, the poller leaves paused clocks alone
    for moment in (T0 + 2 * H, T0 + 9 * H, T0 + 30 * H):
        assert await harness.fire(moment) == 0

    resumed_at = T0 + 30 * H
    await harness.run(clocks.resume, harness.deps, incident, resumed_at)
    resumed = await harness.new_events()
    assert all(isinstance(e, SlaClockResumed) for e in resumed)
    due = {e.clock: e.due_at for e in resumed}
    assert due == {"resolution": T0 + 37 * H, "tier": T0 + 31 * H}
    for kind in due:  # shifted by exactly the 29 h the clock stood still
        assert due[kind] - before[kind].due_at == resumed_at - held
    assert {k: r.state for k, r in (await harness.clocks(incident)).items()} == {
        "response": "met",
        "resolution": "running",
        "tier": "running",
    }
    # the tier budget warns at 1 h 30 of its 2 h: 30 min after resuming, with 30 min left
    assert await harness.fire(resumed_at) == 0
    await harness.fire(resumed_at + timedelta(minutes=30))
    assert summary(await harness.new_events()) == [("tier", "warning", 0.75, 1800.0)]


async def test_hold_for_a_reason_the_policy_does_not_pause_on_pauses_nothing(harness) -> None:
    incident = await harness.create("P2")  # p2 pauses on awaiting_customer only
    before = {k: r.due_at for k, r in (await harness.clocks(incident)).items()}
    await harness.new_events()
    await harness.run(clocks.pause_for_hold, harness.deps, incident, "awaiting_vendor", T0 + H)
    await harness.run(clocks.resume, harness.deps, incident, T0 + 2 * H)
    assert await harness.new_events() == []
    rows = await harness.clocks(incident)
    assert {k: (r.state, r.due_at) for k, r in rows.items()} == {k: ("running", d) for k, d in before.items()}
    await harness.fire(T0 + 8 * H)
    assert [s[:2] for s in summary(await harness.new_events()) if s[1] == "breached"] == [
        ("response", "breached"),
        ("resolution", "breached"),
    ]


async def test_pause_on_office_hours_shifts_the_due_time_by_the_paused_business_time(harness) -> None:
    created = berlin("2026-11-23 09:00")  # Monday 09:00; resolution due Tuesday 17:00
    incident = await harness.create("P3", at=created)
    await harness.run(clocks.stop_response_clock, harness.deps, incident, created)
    assert (await harness.clocks(incident))["resolution"].due_at == berlin("2026-11-24 17:00")
    await harness.new_events()

    await harness.run(
        clocks.pause_for_hold, harness.deps, incident, "awaiting_vendor", berlin("2026-11-23 13:00")
    )
    [paused] = await harness.new_events()
    assert (paused.clock, paused.elapsed_seconds, paused.remaining_seconds) == (
        "resolution",
        14400.0,
        43200.0,
    )
    assert await harness.fire(berlin("2026-11-25 09:30")) == 0  # Wednesday, past the old due time

    await harness.run(clocks.resume, harness.deps, incident, berlin("2026-11-25 10:00"))
    [resumed] = await harness.new_events()
    # paused Mon 13-17, Tue 9-17, Wed 9-10: 13 business hours; the 12 h left run Wed 10-17 and Thu 9-14
    assert (resumed.clock, resumed.due_at) == ("resolution", berlin("2026-11-26 14:00"))
    assert await harness.fire(berlin("2026-11-26 13:59")) == 2  # the two warnings (12 h and 14.4 h of 16 h)
    await harness.fire(berlin("2026-11-26 14:00"))
    assert [s[:2] for s in summary(await harness.new_events())][-1] == ("resolution", "breached")


# --- 3. priority change applies retroactively ---------------------------------------------------------


async def test_p3_raised_to_p1_after_three_hours_has_one_hour_left(harness) -> None:
    incident = await harness.create("P3", service="flat")  # 24x7: response 4 h, resolution 24 h
    await harness.new_events()
    changed = T0 + 3 * H
    harness.at(changed)
    await harness.run(clocks.recalculate, harness.deps, incident, priority="P1", service="flat", at=changed)
    recalculated = await harness.new_events()
    assert sorted((e.clock, e.old_due_at, e.due_at, e.at) for e in recalculated) == [
        ("resolution", T0 + 24 * H, T0 + 4 * H, changed),
        ("response", T0 + 4 * H, changed, changed),  # 15 min target, 3 h spent: due now
    ]
    assert all(isinstance(e, SlaRecalculated) and "P1" in e.reason for e in recalculated)
    rows = await harness.clocks(incident)
    assert {(r.priority, r.policy, r.target_seconds) for r in rows.values()} == {
        ("P1", "p1", 900.0),
        ("P1", "p1", 14400.0),
    }
    # 3 h of 4 h is the 75 % mark: announced at once, then 90 %, then the breach
    await harness.fire(changed)
    assert sorted(summary(await harness.new_events())) == [
        ("resolution", "warning", 0.75, 3600.0),
        ("response", "breached", changed, changed),
    ]
    await harness.fire(T0 + 3 * H + timedelta(minutes=36))
    assert summary(await harness.new_events()) == [("resolution", "warning", 0.9, 1440.0)]
    await harness.fire(T0 + 4 * H)
    assert summary(await harness.new_events()) == [("resolution", "breached", T0 + 4 * H, T0 + 4 * H)]


async def test_banked_business_time_counts_and_the_future_runs_on_the_new_calendar(harness) -> None:
    created = berlin("2026-11-27 14:00")  # Friday 14:00: 3 business hours banked by Friday 17:00
    incident = await harness.create("P3", at=created)
    await harness.new_events()
    changed = berlin("2026-11-28 10:00")  # Saturday: office closed, but P1 runs 24x7
    harness.at(changed)
    await harness.run(clocks.recalculate, harness.deps, incident, priority="P1", service="mail", at=changed)
    recalculated = await harness.new_events()
    assert sorted((e.clock, e.old_due_at, e.due_at) for e in recalculated) == [
        ("resolution", berlin("2026-12-01 14:00"), berlin("2026-11-28 11:00")),  # Fri 3 + Mon 8 + Tue 5 h
        ("response", berlin("2026-11-30 10:00"), changed),
    ]
    rows = await harness.clocks(incident)
    resolution = rows["resolution"]
    assert (resolution.calendar, resolution.policy, resolution.elapsed_seconds) == ("24x7", "p1", 10800.0)
    assert resolution.running_since == changed
    await harness.fire(berlin("2026-11-28 10:36"))
    # both resolution marks (3 h and 3 h 36 min of 4 h) have passed: each announced once, 24 min left
    assert sorted(summary(await harness.new_events())) == [
        ("resolution", "warning", 0.75, 1440.0),
        ("resolution", "warning", 0.9, 1440.0),
        ("response", "breached", changed, berlin("2026-11-28 10:36")),
    ]
    await harness.fire(berlin("2026-11-28 11:00"))
    assert summary(await harness.new_events()) == [
        ("resolution", "breached", berlin("2026-11-28 11:00"), berlin("2026-11-28 11:00"))
    ]


async def test_raised_priority_whose_policy_does_not_pause_on_the_hold_reason_runs_again(harness) -> None:
    incident = await harness.create("P3", service="flat")  # 24x7 P3, pauses on awaiting_vendor
    await harness.run(clocks.pause_for_hold, harness.deps, incident, "awaiting_vendor", T0 + H)
    await harness.run(
        clocks.recalculate, harness.deps, incident, priority="P1", service="flat", at=T0 + 2 * H
    )
    resolution = (await harness.clocks(incident))["resolution"]
    # P1 keeps counting while awaiting a vendor: 1 h banked, 3 h left from the change
    assert (resolution.state, resolution.due_at) == ("running", T0 + 5 * H)
