"""The read model of SLA clocks: what the SLA monitor reported, applied to the incident's SLA view.

One view row per incident and clock kind (a new tier clock replaces the last); every event
also goes on the timeline, whether or not it still changes the view.
"""

from __future__ import annotations

import uuid

from tierline_intake.adapters.orm import SlaClockView
from tierline_intake.domain.lifecycle import Status
from tierline_intake.domain.sla import OPEN_STATES
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork, Origin
from tierline_shared.events import (
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
)


def _clock_label(clock: str, tier: str | None) -> str:
    """``resolution``, ``tier (L2)``, ``vendor response``: the clock as a sentence names it."""
    name = clock.replace("_", " ")
    return f"{name} ({tier})" if clock == "tier" and tier else name


def _title(clock: str, tier: str | None) -> str:
    label = _clock_label(clock, tier)
    return label[0].upper() + label[1:]


def _span(seconds: float) -> str:
    """Business time as people say it: 45s, 10m, 1h, 3h10m, 2d4h (whole minutes, rounded down)."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{max(int(seconds), 0)}s"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n)


def _percent(share: float) -> str:
    return f"{round(share * 100, 1):g} %"


async def _clock(
    uow: IntakeUnitOfWork, incident_id: uuid.UUID, clock: str, tier: str | None
) -> SlaClockView | None:
    view = await uow.sla.clock(incident_id, clock)
    if view is None or (clock == "tier" and view.tier != tier):
        return None  # a newer tier clock replaced it
    return view


async def on_clock_started(uow: IntakeUnitOfWork, event: SlaClockStarted, origin: Origin) -> None:
    incident = await uow.incidents.load(event.incident_id)
    # A tier clock announced after the incident closed here will never be stopped: show it cancelled.
    closed = event.clock == "tier" and incident.status in (Status.RESOLVED, Status.CLOSED)
    values = {
        "tier": event.tier,
        "state": "cancelled" if closed else "running",
        "due_at": event.due_at,
        "breached_at": None,
        "met_at": None,
        "remaining_seconds": None,
        "warning_threshold": None,
    }
    await uow.sla.started(event.incident_id, event.clock, values)
    uow.received(
        event,
        origin,
        at=event.started_at,
        kind="sla_clock_started",
        summary=f"SLA {_clock_label(event.clock, event.tier)} clock due {event.due_at.isoformat()}",
    )


async def on_breached(uow: IntakeUnitOfWork, event: SlaBreached, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    view = await _clock(uow, event.incident_id, event.clock, event.tier)
    if view is not None:
        view.state, view.breached_at, view.remaining_seconds = "breached", event.breached_at, None
    uow.received(
        event,
        origin,
        at=event.breached_at,
        kind="sla_breached",
        summary=f"SLA {_clock_label(event.clock, event.tier)} breached",
    )


async def on_met(uow: IntakeUnitOfWork, event: SlaMet, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    view = await _clock(uow, event.incident_id, event.clock, event.tier)
    if view is not None:
        # A paused clock keeps the time it had left; a met after a breach withdraws the breach
        # (the stop was in time but reached the SLA monitor after its poller fired).
        view.state, view.met_at, view.breached_at = "met", event.met_at, None
    uow.received(
        event,
        origin,
        at=event.met_at,
        kind="sla_met",
        summary=f"SLA {_clock_label(event.clock, event.tier)} met",
    )


async def on_recalculated(uow: IntakeUnitOfWork, event: SlaRecalculated, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    view = await _clock(uow, event.incident_id, event.clock, event.tier)
    if view is not None:
        view.due_at = event.due_at
    uow.received(
        event,
        origin,
        at=event.at,
        kind="sla_recalculated",
        summary=f"SLA {_clock_label(event.clock, event.tier)} now due {event.due_at.isoformat()}",
    )


async def on_warning(uow: IntakeUnitOfWork, event: SlaWarning, origin: Origin) -> None:
    """Most of a clock's target is used up: the view keeps the latest threshold crossed."""
    await uow.incidents.load(event.incident_id)
    view = await _clock(uow, event.incident_id, event.clock, event.tier)
    if view is not None and view.state in OPEN_STATES:
        view.warning_threshold = event.threshold
    left = _span(event.remaining_seconds)
    uow.received(
        event,
        origin,
        at=event.at,
        kind="sla_warning",
        summary=f"{_title(event.clock, event.tier)} SLA at {_percent(event.threshold)}: {left} left"
        f" (due {event.due_at.isoformat()})",
    )


async def on_paused(uow: IntakeUnitOfWork, event: SlaClockPaused, origin: Origin) -> None:
    """The clock stopped counting: no due time until it resumes, only the business time left."""
    await uow.incidents.load(event.incident_id)
    view = await uow.sla.clock(event.incident_id, event.clock)
    if view is not None and view.state in OPEN_STATES:
        view.state, view.due_at, view.remaining_seconds = "paused", None, event.remaining_seconds
    tier = view.tier if view is not None else None
    uow.received(
        event,
        origin,
        at=event.at,
        kind="sla_clock_paused",
        summary=f"{_title(event.clock, tier)} clock paused ({event.reason}),"
        f" {_span(event.remaining_seconds)} left",
    )


async def on_resumed(uow: IntakeUnitOfWork, event: SlaClockResumed, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    view = await uow.sla.clock(event.incident_id, event.clock)
    if view is not None and view.state in OPEN_STATES:
        view.state, view.due_at, view.remaining_seconds = "running", event.due_at, None
    tier = view.tier if view is not None else None
    uow.received(
        event,
        origin,
        at=event.at,
        kind="sla_clock_resumed",
        summary=f"{_title(event.clock, tier)} clock resumed, due {event.due_at.isoformat()}",
    )
