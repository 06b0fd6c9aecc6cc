"""What the SLA monitor tells intake, applied to the incident's SLA view and timeline on the real PostgreSQL.

The projections are called the way the consumer calls them (one unit of work per event); the last
test sends the SLA monitor's events through Kafka to a running intake and reads them from the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline_intake.adapters.orm import SlaClockView, TimelineEntry
from tierline_intake.entrypoints import handlers
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.clock import FixedClock
from tierline_shared.errors import NotFound
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentEscalated,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaWarning,
    VendorDeliveryFailed,
    registered_types,
    topics,
)
from tierline_shared.testing import eventually, publish_events

from .conftest import vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SLA_MONITOR = "/tierline/sla-monitor"
ROUTER = "/tierline/router"
DUE = T0 + timedelta(hours=4)


async def _apply(sessions, deps: IntakeDeps, event: Event, source: str = SLA_MONITOR) -> Envelope:
    """Apply one consumed event through the projection the consumer would pick, in its own transaction."""
    envelope = Envelope(data=event, source=source)
    async with sessions() as session, session.begin():
        await handlers.bind(deps)[type(event)](session, envelope)
    return envelope


async def _view(sessions, incident_id: uuid.UUID, clock: str) -> SlaClockView:
    async with sessions() as session:
        view = await session.scalar(
            select(SlaClockView).where(SlaClockView.incident_id == incident_id, SlaClockView.clock == clock)
        )
    assert view is not None
    return view


async def _entries(sessions, incident_id: uuid.UUID) -> list[TimelineEntry]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == incident_id)
                .order_by(TimelineEntry.seq)
            )
        )


async def _last_entry(sessions, incident_id: uuid.UUID) -> TimelineEntry:
    """The entry the last applied event made (the latest written, whatever time it states)."""
    async with sessions() as session:
        entry = await session.scalar(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.seq.desc())
            .limit(1)
        )
    assert entry is not None
    return entry


def _started(incident_id: uuid.UUID, clock: str = "resolution", tier: str | None = None, **kw: Any):
    values: dict[str, Any] = {"due_at": DUE, "started_at": T0, **kw}
    return SlaClockStarted(incident_id=incident_id, clock=clock, tier=tier, **values)


def _warning(incident_id: uuid.UUID, threshold: float, remaining: float, **kw: Any) -> SlaWarning:
    values: dict[str, Any] = {"clock": "resolution", "due_at": DUE, "at": T0 + timedelta(hours=3)}
    values |= kw
    return SlaWarning(
        incident_id=incident_id,
        threshold=threshold,
        elapsed_seconds=remaining * threshold / (1 - threshold),
        remaining_seconds=remaining,
        **values,
    )


def _paused(incident_id: uuid.UUID, clock: str = "resolution", remaining: float = 11400, **kw: Any):
    values: dict[str, Any] = {"reason": "awaiting_customer", "at": T0 + timedelta(minutes=50), **kw}
    return SlaClockPaused(
        incident_id=incident_id,
        clock=clock,
        elapsed_seconds=3000,
        remaining_seconds=remaining,
        **values,
    )


def _resumed(incident_id: uuid.UUID, clock: str = "resolution", **kw: Any) -> SlaClockResumed:
    values: dict[str, Any] = {"due_at": DUE + timedelta(days=1), "at": T0 + timedelta(days=1), **kw}
    return SlaClockResumed(incident_id=incident_id, clock=clock, **values)


# -- warnings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "tier", "threshold", "remaining", "summary"),
    [
        ("resolution", None, 0.75, 3600, "Resolution SLA at 75 %: 1h left (due 2026-11-23T13:00:00+00:00)"),
        ("response", None, 0.5, 600, "Response SLA at 50 %: 10m left (due 2026-11-23T13:00:00+00:00)"),
        ("tier", "L2", 0.875, 45, "Tier (L2) SLA at 87.5 %: 45s left (due 2026-11-23T13:00:00+00:00)"),
        (
            "vendor_resolution",
            None,
            0.9,
            187_260,
            "Vendor resolution SLA at 90 %: 2d4h1m left (due 2026-11-23T13:00:00+00:00)",
        ),
    ],
)
async def test_a_warning_records_its_threshold_and_reads_as_time_left(
    sessions,
    deps: IntakeDeps,
    incident_id: uuid.UUID,
    clock: str,
    tier: str | None,
    threshold: float,
    remaining: float,
    summary: str,
) -> None:
    await _apply(sessions, deps, _started(incident_id, clock, tier))
    envelope = await _apply(
        sessions, deps, _warning(incident_id, threshold, remaining, clock=clock, tier=tier)
    )
    view = await _view(sessions, incident_id, clock)
    assert (view.state, view.due_at, view.warning_threshold) == ("running", DUE, threshold)
    entry = await _last_entry(sessions, incident_id)
    assert (entry.kind, entry.summary, entry.source, entry.event_id) == (
        "sla_warning",
        summary,
        "sla-monitor",
        envelope.id,
    )
    assert entry.at == T0 + timedelta(hours=3)
    assert (entry.data["threshold"], entry.data["remaining_seconds"]) == (threshold, remaining)


async def test_the_view_keeps_the_latest_warning_and_a_new_clock_starts_without_one(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, _warning(incident_id, 0.75, 3600))
    await _apply(sessions, deps, _warning(incident_id, 0.9, 1440))
    assert (await _view(sessions, incident_id, "resolution")).warning_threshold == 0.9
    assert (await _last_entry(sessions, incident_id)).summary.startswith("Resolution SLA at 90 %: 24m left")
    await _apply(sessions, deps, _started(incident_id, started_at=T0 + timedelta(days=2)))  # reopened
    assert (await _view(sessions, incident_id, "resolution")).warning_threshold is None


async def test_a_warning_of_a_replaced_tier_clock_leaves_the_view_alone(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id, "tier", "L2"))
    await _apply(sessions, deps, _warning(incident_id, 0.75, 60, clock="tier", tier="L1"))
    assert (await _view(sessions, incident_id, "tier")).warning_threshold is None
    assert (await _last_entry(sessions, incident_id)).summary.startswith("Tier (L1) SLA at 75 %: 1m left")


# -- paused and resumed ----------------------------------------------------------------------


async def test_a_paused_clock_has_no_due_time_only_time_left(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, _warning(incident_id, 0.5, 7200))
    envelope = await _apply(sessions, deps, _paused(incident_id))
    view = await _view(sessions, incident_id, "resolution")
    assert (view.state, view.due_at, view.remaining_seconds) == ("paused", None, 11400)
    assert view.warning_threshold == 0.5  # a pause does not take back a warning
    entry = await _last_entry(sessions, incident_id)
    assert (entry.kind, entry.summary, entry.event_id) == (
        "sla_clock_paused",
        "Resolution clock paused (awaiting_customer), 3h10m left",
        envelope.id,
    )
    assert entry.at == T0 + timedelta(minutes=50)
    assert entry.data["reason"] == "awaiting_customer" and entry.data["elapsed_seconds"] == 3000


async def test_a_resumed_clock_runs_again_with_its_new_due_time(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, _paused(incident_id))
    envelope = await _apply(sessions, deps, _resumed(incident_id))
    view = await _view(sessions, incident_id, "resolution")
    assert (view.state, view.due_at, view.remaining_seconds) == ("running", DUE + timedelta(days=1), None)
    entry = await _last_entry(sessions, incident_id)
    assert (entry.kind, entry.summary, entry.event_id, entry.at) == (
        "sla_clock_resumed",
        "Resolution clock resumed, due 2026-11-24T13:00:00+00:00",
        envelope.id,
        T0 + timedelta(days=1),
    )


async def test_a_tier_clock_pauses_under_its_tier(sessions, deps: IntakeDeps, incident_id: uuid.UUID) -> None:
    await _apply(sessions, deps, _started(incident_id, "tier", "L1", due_at=T0 + timedelta(minutes=10)))
    await _apply(sessions, deps, _paused(incident_id, "tier", remaining=600, reason="awaiting_vendor"))
    assert (await _view(sessions, incident_id, "tier")).state == "paused"
    assert (await _last_entry(sessions, incident_id)).summary == (
        "Tier (L1) clock paused (awaiting_vendor), 10m left"
    )
    await _apply(sessions, deps, _resumed(incident_id, "tier"))
    view = await _view(sessions, incident_id, "tier")
    assert (view.tier, view.state, view.due_at) == ("L1", "running", DUE + timedelta(days=1))
    assert (await _last_entry(sessions, incident_id)).summary.startswith("Tier (L1) clock resumed, due ")


@pytest.mark.parametrize(
    ("ended", "state"),
    [
        (
            lambda iid: SlaMet(
                incident_id=iid, clock="resolution", due_at=DUE, met_at=T0 + timedelta(hours=1)
            ),
            "met",
        ),
        (
            lambda iid: SlaBreached(
                incident_id=iid, clock="resolution", due_at=DUE, breached_at=T0 + timedelta(hours=5)
            ),
            "breached",
        ),
    ],
)
async def test_a_clock_that_ended_is_not_paused_or_resumed(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, ended: Callable[[uuid.UUID], Event], state: str
) -> None:
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, ended(incident_id))
    await _apply(sessions, deps, _paused(incident_id))
    await _apply(sessions, deps, _resumed(incident_id))
    view = await _view(sessions, incident_id, "resolution")
    assert (view.state, view.due_at, view.remaining_seconds) == (state, DUE, None)
    assert (await _last_entry(sessions, incident_id)).kind == "sla_clock_resumed"  # still on the timeline


async def test_a_clock_met_while_paused_keeps_no_due_time_but_the_time_it_had_left(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, _paused(incident_id))
    at = T0 + timedelta(hours=6)
    await _apply(sessions, deps, SlaMet(incident_id=incident_id, clock="resolution", due_at=at, met_at=at))
    view = await _view(sessions, incident_id, "resolution")
    assert (view.state, view.met_at, view.due_at, view.remaining_seconds) == ("met", at, None, 11400)


async def test_a_met_after_the_breach_withdraws_the_breach(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    """The stop was in time but reached the SLA monitor after its poller fired: it corrects to met."""
    await _apply(sessions, deps, _started(incident_id))
    await _apply(
        sessions, deps, SlaBreached(incident_id=incident_id, clock="resolution", due_at=DUE, breached_at=DUE)
    )
    assert (await _view(sessions, incident_id, "resolution")).breached_at == DUE
    at = DUE - timedelta(minutes=5)
    await _apply(sessions, deps, SlaMet(incident_id=incident_id, clock="resolution", due_at=DUE, met_at=at))
    view = await _view(sessions, incident_id, "resolution")
    assert (view.state, view.met_at, view.breached_at, view.due_at) == ("met", at, None, DUE)
    kinds = [e.kind for e in await _entries(sessions, incident_id)]
    assert kinds[-2:] == ["sla_breached", "sla_met"]  # the timeline keeps both


# -- vendor clocks, and clocks the SLA monitor drops without a word ---------------------------


def _escalated(incident_id: uuid.UUID, from_tier: str, to_tier: str, **kw: Any) -> IncidentEscalated:
    values: dict[str, Any] = {"reason": "sla_breach", "escalated_at": T0 + timedelta(hours=1), **kw}
    return IncidentEscalated(incident_id=incident_id, from_tier=from_tier, to_tier=to_tier, **values)


async def _vendor_clocks(sessions, deps: IntakeDeps, incident_id: uuid.UUID) -> None:
    await _apply(sessions, deps, _escalated(incident_id, "L3", "L4", vendor="acme"), source=ROUTER)
    for clock in ("vendor_response", "vendor_resolution"):
        await _apply(sessions, deps, _started(incident_id, clock))
    await _apply(sessions, deps, _paused(incident_id, "vendor_resolution"))


async def test_vendor_clocks_are_in_the_view_like_the_others(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _vendor_clocks(sessions, deps, incident_id)
    assert (await _view(sessions, incident_id, "vendor_response")).state == "running"
    assert (await _view(sessions, incident_id, "vendor_resolution")).state == "paused"
    at = T0 + timedelta(hours=2)
    await _apply(
        sessions, deps, SlaMet(incident_id=incident_id, clock="vendor_response", due_at=DUE, met_at=at)
    )
    assert (await _view(sessions, incident_id, "vendor_response")).state == "met"
    assert (await _last_entry(sessions, incident_id)).summary == "SLA vendor response met"


@pytest.mark.parametrize(
    ("gone", "source"),
    [
        (
            lambda iid: _escalated(
                iid,
                "L4",
                "L3",
                direction="down",
                reason="vendor_rejected",
                escalated_at=T0 + timedelta(hours=3),
            ),
            ROUTER,
        ),
        (
            lambda iid: VendorDeliveryFailed(
                incident_id=iid,
                vendor="acme",
                case_id=uuid.uuid4(),
                attempts=5,
                last_error="503",
                failed_at=T0,
            ),
            "/tierline/vendor-gateway",
        ),
    ],
)
async def test_vendor_clocks_end_when_the_case_leaves_the_vendor(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, gone: Callable[[uuid.UUID], Event], source: str
) -> None:
    await _vendor_clocks(sessions, deps, incident_id)
    await _apply(sessions, deps, _started(incident_id))
    await _apply(sessions, deps, gone(incident_id), source=source)
    for clock in ("vendor_response", "vendor_resolution"):
        view = await _view(sessions, incident_id, clock)
        assert (view.state, view.remaining_seconds) == ("cancelled", None)
    assert (await _view(sessions, incident_id, "resolution")).state == "running"


async def test_a_paused_tier_clock_is_cancelled_when_the_incident_leaves_the_tier(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _started(incident_id, "tier", "L1"))
    await _apply(sessions, deps, _paused(incident_id, "tier"))
    await _apply(sessions, deps, _escalated(incident_id, "L1", "L2", queue="network-ops"), source=ROUTER)
    view = await _view(sessions, incident_id, "tier")
    assert (view.tier, view.state, view.remaining_seconds) == ("L1", "cancelled", None)


# -- wiring ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        _warning(uuid.uuid4(), 0.75, 60),
        _paused(uuid.uuid4()),
        _resumed(uuid.uuid4()),
    ],
)
async def test_events_for_an_unknown_incident_are_refused(sessions, deps: IntakeDeps, event: Event) -> None:
    with pytest.raises(NotFound):
        await _apply(sessions, deps, event)


def test_every_sla_event_has_a_projection() -> None:
    sla_events = {cls for cls in registered_types().values() if cls.topic == topics.SLA}
    assert {SlaWarning, SlaClockPaused, SlaClockResumed} <= sla_events
    assert {cls for cls in handlers.handlers.event_types if cls.topic == topics.SLA} == sla_events


# -- through Kafka, read from the API ----------------------------------------------------------


async def test_a_running_intake_shows_warnings_pauses_and_vendor_clocks(infra, make_client) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    clock = FixedClock(T0)
    # unthrottled: the fixed clock never ends the rate limit's minute, and the test polls until applied
    client = make_client(clock=clock, kafka_topic_prefix=prefix, rate_limit_per_minute=0)
    incident = client.post("/v1/incidents", json=vpn_incident(reporter="alice@example.com")).json()
    iid = uuid.UUID(incident["id"])
    start = datetime.fromisoformat(incident["created_at"])

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    sent: list[Event] = [
        _started(iid, "resolution", due_at=at(14400), started_at=at(1)),
        _started(iid, "vendor_response", due_at=at(3600), started_at=at(2)),
        _warning(iid, 0.75, 900, clock="vendor_response", due_at=at(3600), at=at(2700)),
        _paused(iid, "resolution", remaining=11400, at=at(3000)),
        _started(iid, "vendor_resolution", due_at=at(86400), started_at=at(3001)),
        _paused(iid, "vendor_resolution", remaining=80000, at=at(3002)),
        _resumed(iid, "vendor_resolution", due_at=at(90000), at=at(3003)),
    ]
    await publish_events(infra.bootstrap_servers, prefix, SLA_MONITOR, sent)

    def view() -> dict[str, Any] | None:
        body = client.get(f"/v1/incidents/{iid}").json()
        return body if len(body["timeline"]) == 1 + len(sent) else None

    body = await eventually(view, timeout=30, what="the SLA monitor's events on the timeline")
    assert [e["kind"] for e in body["timeline"][1:]] == [
        "sla_clock_started",
        "sla_clock_started",
        "sla_warning",
        "sla_clock_paused",
        "sla_clock_started",
        "sla_clock_paused",
        "sla_clock_resumed",
    ]
    assert body["timeline"][4]["summary"] == "Resolution clock paused (awaiting_customer), 3h10m left"
    sla = body["sla"]
    assert set(sla) == {"resolution", "vendor_response", "vendor_resolution"}
    paused = sla["resolution"]
    assert (paused["state"], paused["due_at"], paused["remaining_seconds"]) == ("paused", None, 11400.0)
    assert (sla["vendor_response"]["state"], sla["vendor_response"]["warning_threshold"]) == ("running", 0.75)
    assert sla["vendor_resolution"]["state"] == "running"
    assert datetime.fromisoformat(sla["vendor_resolution"]["due_at"]) == at(90000)
    assert sla["vendor_resolution"]["remaining_seconds"] == 90000.0  # read at the intake clock's T0
    assert sla["vendor_response"]["remaining_seconds"] == 3600.0
