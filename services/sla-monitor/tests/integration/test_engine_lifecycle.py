"""Vendor contract clocks, reopening, and events that reach an incident after it was resolved.

Vendor clocks run 24x7 on the contract the router's IncidentEscalated carries; P1/P2 run 24x7 too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.events import (
    Envelope,
    Event,
    IncidentEscalated,
    SlaBreached,
    SlaClockStarted,
    VendorCaseUpdated,
)
from tierline_shared.events.routing import VendorContract
from tierline_sla_monitor.entrypoints import handlers
from tierline_sla_monitor.service_layer import clocks

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
VENDOR_KINDS = ("vendor_response", "vendor_resolution")


def outcomes(events: list) -> list[tuple[str, str]]:
    return [(e.clock, type(e).__name__) for e in events]


async def vendor_clocks(harness, incident: uuid.UUID) -> list[tuple]:
    rows = await harness.all_clocks(incident)
    return [(r.kind, r.vendor, r.state, r.finished_seconds) for r in rows if r.kind in VENDOR_KINDS]


async def start_vendor(harness, incident, vendor="acme", response=3600.0, resolution=28800.0, at=T0) -> None:
    await harness.run(
        clocks.start_vendor_clocks,
        harness.deps,
        incident,
        vendor=vendor,
        response_seconds=response,
        resolution_seconds=resolution,
        at=at,
    )


# --- 4. vendor clocks ---------------------------------------------------------------------------------


async def test_vendor_response_stops_on_first_update_and_resolution_on_resolve(harness) -> None:
    incident = await harness.create("P1")
    await harness.new_events()
    await start_vendor(harness, incident, at=T0 + H)
    started = await harness.new_events()
    assert sorted((e.clock, e.due_at) for e in started if isinstance(e, SlaClockStarted)) == [
        ("vendor_resolution", T0 + 9 * H),
        ("vendor_response", T0 + 2 * H),
    ]
    rows = await harness.clocks(incident)
    assert {(rows[k].calendar, tuple(rows[k].warnings), rows[k].tier) for k in VENDOR_KINDS} == {
        ("24x7", (), None)
    }

    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 90 * M, vendor="acme", resolved=False
    )
    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 2 * H, vendor="acme", resolved=False
    )  # 2nd update
    assert outcomes(await harness.new_events()) == [("vendor_response", "SlaMet")]
    assert await vendor_clocks(harness, incident) == [
        ("vendor_resolution", "acme", "running", None),
        ("vendor_response", "acme", "met", 1800.0),
    ]
    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 5 * H, vendor="acme", resolved=True
    )
    [met] = await harness.new_events()
    assert (met.clock, met.due_at, met.met_at) == ("vendor_resolution", T0 + 9 * H, T0 + 5 * H)
    assert (await vendor_clocks(harness, incident))[0] == ("vendor_resolution", "acme", "met", 14400.0)


async def test_re_escalation_restarts_vendor_clocks_and_hand_back_cancels_them(harness) -> None:
    incident = uuid.uuid4()
    await start_vendor(harness, incident, vendor="acme")
    await start_vendor(harness, incident, vendor="initech", response=1800, resolution=None, at=T0 + 10 * M)
    assert await vendor_clocks(harness, incident) == [
        ("vendor_resolution", "acme", "cancelled", None),
        ("vendor_response", "acme", "cancelled", None),
        ("vendor_response", "initech", "running", None),  # a contract without a resolution target
    ]
    assert (await harness.clocks(incident))["vendor_response"].due_at == T0 + 40 * M
    await harness.run(clocks.cancel_vendor_clocks, incident, T0 + 20 * M)
    assert [state for _, _, state, _ in await vendor_clocks(harness, incident)] == ["cancelled"] * 3
    await harness.new_events()
    assert await harness.fire(T0 + 10 * H) == 0
    assert await harness.new_events() == []


async def test_late_vendor_breaches_and_keeps_how_long_it_really_took(harness) -> None:
    incident = uuid.uuid4()
    await start_vendor(harness, incident, response=3600, resolution=7200)
    await harness.new_events()
    await harness.fire(T0 + H)
    [breach] = await harness.new_events()  # vendor contracts carry no warnings
    assert isinstance(breach, SlaBreached)
    assert (breach.clock, breach.due_at, breach.breached_at) == ("vendor_response", T0 + H, T0 + H)
    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 90 * M, vendor="acme", resolved=False
    )
    await harness.fire(T0 + 2 * H)
    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 3 * H, vendor="acme", resolved=True
    )
    assert outcomes(await harness.new_events()) == [("vendor_resolution", "SlaBreached")]
    assert await vendor_clocks(harness, incident) == [
        ("vendor_resolution", "acme", "breached", 10800.0),
        ("vendor_response", "acme", "breached", 5400.0),
    ]


async def test_escalated_events_start_and_cancel_vendor_clocks_through_the_handlers(harness) -> None:
    bound = handlers.bind(harness.deps)
    incident = await harness.create("P1")

    async def consume(event: Event) -> None:
        await harness.run(bound[type(event)], Envelope(event, "/tierline/router"))

    def escalated(from_tier: str, to_tier: str, at: datetime, **kw) -> IncidentEscalated:
        return IncidentEscalated(
            incident_id=incident, from_tier=from_tier, to_tier=to_tier, reason="manual", escalated_at=at, **kw
        )

    contract = VendorContract(response_seconds=3600, resolution_seconds=14400)
    await consume(escalated("L3", "L4", T0 + H, vendor="acme", vendor_contract=contract))
    assert [(k, s) for k, _, s, _ in await vendor_clocks(harness, incident)] == [
        ("vendor_resolution", "running"),
        ("vendor_response", "running"),
    ]
    await consume(escalated("L4", "L3", T0 + 2 * H, direction="down", tier_budget_seconds=3600))
    assert [s for _, _, s, _ in await vendor_clocks(harness, incident)] == ["cancelled", "cancelled"]
    assert (await harness.clocks(incident))["tier"].tier == "L3"


async def test_an_update_from_the_previous_vendor_does_not_stop_the_new_vendors_clock(harness) -> None:
    bound = handlers.bind(harness.deps)
    incident = uuid.uuid4()
    await start_vendor(harness, incident, vendor="acme")
    await start_vendor(harness, incident, vendor="initech", at=T0 + H)
    stale = VendorCaseUpdated(
        incident_id=incident, vendor="acme", case_id=uuid.uuid4(), status="closed", updated_at=T0 + 2 * H
    )
    await harness.run(bound[VendorCaseUpdated], Envelope(stale, "/tierline/vendor-gateway"))
    assert (await harness.clocks(incident))["vendor_response"].state == "running"


async def test_a_vendor_update_in_time_that_arrives_after_the_poller_fired_is_met(harness) -> None:
    incident = uuid.uuid4()
    await start_vendor(harness, incident, response=3600)
    await harness.fire(T0 + H)
    await harness.run(
        clocks.stop_vendor_clocks, harness.deps, incident, T0 + 50 * M, vendor="acme", resolved=False
    )
    assert (await harness.clocks(incident))["vendor_response"].state == "met"


# --- 7. reopen, and events after the resolve ---------------------------------------------------------


async def test_reopen_starts_a_fresh_resolution_clock_that_a_second_resolve_stops(harness) -> None:
    incident = await harness.create("P2")
    await harness.run(clocks.stop_response_clock, harness.deps, incident, T0 + 10 * M)
    await harness.run(clocks.stop_all_clocks, harness.deps, incident, T0 + H)
    await harness.new_events()

    reopened = T0 + 2 * H
    await harness.run(clocks.restart_after_reopen, harness.deps, incident, "P2", reopened)
    [started] = await harness.new_events()
    assert (started.clock, started.started_at, started.due_at) == ("resolution", reopened, reopened + 8 * H)
    await harness.run(clocks.stop_all_clocks, harness.deps, incident, T0 + 3 * H)
    assert outcomes(await harness.new_events()) == [("resolution", "SlaMet")]
    rows = await harness.all_clocks(incident)
    assert [(r.kind, r.state, r.started_at, r.finished_seconds) for r in rows] == [
        ("resolution", "met", T0, 3600.0),
        ("response", "met", T0, 600.0),
        ("resolution", "met", reopened, 3600.0),
    ]


async def test_events_after_the_resolve_start_pause_or_stop_nothing(harness) -> None:
    incident = await harness.create("P1")
    await harness.run(clocks.stop_all_clocks, harness.deps, incident, T0 + H)
    before = [(r.id, r.state, r.due_at, r.stopped_at) for r in await harness.all_clocks(incident)]
    await harness.new_events()

    late = T0 + 2 * H
    await harness.create("P1", at=T0, incident_id=incident)  # IncidentCreated redelivered
    for use_case, args, kwargs in [
        (
            clocks.restart_tier_clock,
            (),
            {"incident_id": incident, "tier": "L2", "budget_seconds": 60, "at": late},
        ),
        (
            clocks.start_vendor_clocks,
            (incident,),
            {"vendor": "acme", "response_seconds": 60, "resolution_seconds": 60, "at": late},
        ),
        (clocks.pause_for_hold, (incident, "awaiting_customer", late), {}),
        (clocks.resume, (incident, late), {}),
        (clocks.recalculate, (incident,), {"priority": "P3", "service": "mail", "at": late}),
        (clocks.stop_response_clock, (incident, late), {}),
        (clocks.stop_vendor_clocks, (incident, late), {"vendor": "acme", "resolved": True}),
        (clocks.stop_all_clocks, (incident, late), {}),
    ]:
        await harness.run(use_case, harness.deps, *args, **kwargs)
    assert await harness.fire(T0 + 100 * H) == 0
    assert await harness.new_events() == []
    after = [(r.id, r.state, r.due_at, r.stopped_at) for r in await harness.all_clocks(incident)]
    assert after == before


async def test_a_reopened_incident_resolved_while_on_hold_runs_its_new_tier_budget(harness) -> None:
    incident = await harness.create("P2")
    await harness.run(clocks.pause_for_hold, harness.deps, incident, "awaiting_customer", T0 + H)
    await harness.run(clocks.stop_all_clocks, harness.deps, incident, T0 + 2 * H)
    await harness.run(clocks.restart_after_reopen, harness.deps, incident, "P2", T0 + 3 * H)
    await harness.run(
        clocks.restart_tier_clock,
        harness.deps,
        incident_id=incident,
        tier="L1",
        budget_seconds=1800,
        at=T0 + 3 * H,
    )
    tier = (await harness.clocks(incident))["tier"]
    assert (tier.state, tier.due_at) == ("running", T0 + 3 * H + 30 * M)
