"""What the router tells intake, applied to the incident view and timeline on the real PostgreSQL.

The projections are called the way the consumer calls them (one unit of work per event); the last
test sends the router's events through Kafka to a running intake to prove they are subscribed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline_intake.adapters.orm import IncidentRow, SlaClockView, TimelineEntry
from tierline_intake.entrypoints import handlers
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.errors import NotFound
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    SlaClockStarted,
    VendorContract,
    topics,
)
from tierline_shared.testing import eventually, publish_events

from .conftest import vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROUTER = "/tierline/router"
TOP_OF_LADDER = "The incident is at the top of its escalation ladder (L3)."

Projection = Callable[..., Any]


async def _apply(sessions, deps: IntakeDeps, event: Event) -> Envelope:
    """Apply one consumed event through the projection the consumer would pick, in its own transaction."""
    envelope = Envelope(data=event, source=ROUTER)
    async with sessions() as session, session.begin():
        await handlers.bind(deps)[type(event)](session, envelope)
    return envelope


async def _row(sessions, incident_id: uuid.UUID) -> IncidentRow:
    async with sessions() as session:
        row = await session.get(IncidentRow, incident_id)
    assert row is not None
    return row


async def _received(sessions, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """Timeline entries from other services, in order (intake's own 'created' left out)."""
    async with sessions() as session:
        entries = await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id, TimelineEntry.source != "intake")
            .order_by(TimelineEntry.at, TimelineEntry.seq)
        )
        return list(entries)


def _assigned(incident_id: uuid.UUID, *, assignee: str | None, reason: str = "routed", **kw: Any):
    values: dict[str, Any] = {
        "tier": "L1",
        "queue": "service-desk",
        "tier_budget_seconds": 600.0,
        "tier_entered_at": T0,
        "assigned_at": T0 + timedelta(seconds=1),
        **kw,
    }
    return IncidentAssigned(incident_id=incident_id, assignee=assignee, reason=reason, **values)


def _escalated(incident_id: uuid.UUID, from_tier: str, to_tier: str, **kw: Any) -> IncidentEscalated:
    values: dict[str, Any] = {"reason": "sla_breach", "escalated_at": T0 + timedelta(minutes=10), **kw}
    return IncidentEscalated(incident_id=incident_id, from_tier=from_tier, to_tier=to_tier, **values)


async def _tier_clock(sessions, deps: IntakeDeps, incident_id: uuid.UUID, tier: str) -> None:
    await _apply(
        sessions,
        deps,
        SlaClockStarted(
            incident_id=incident_id,
            clock="tier",
            tier=tier,
            due_at=T0 + timedelta(minutes=10),
            started_at=T0,
        ),
    )


async def _tier_clock_state(sessions, incident_id: uuid.UUID) -> tuple[str | None, str]:
    async with sessions() as session:
        view = await session.scalar(
            select(SlaClockView).where(SlaClockView.incident_id == incident_id, SlaClockView.clock == "tier")
        )
    assert view is not None
    return view.tier, view.state


# -- assigned --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "assignee", "summary"),
    [
        ("routed", "bob", "Assigned to bob in service-desk (L1)"),
        ("reassigned", "bob", "Reassigned to bob in service-desk (L1)"),
        ("rerouted", "bob", "Rerouted to bob in service-desk (L1)"),
        ("dequeued", "bob", "Taken from queue service-desk (L1) by bob"),
        ("reopened", "bob", "Reopened and assigned to bob in service-desk (L1)"),
        ("priority_change", "bob", "Priority changed; assigned to bob in service-desk (L1)"),
        ("routed", None, "Waiting in queue service-desk (L1) for a free agent"),
        ("reassigned", None, "Back in the queue: waiting in queue service-desk (L1) for a free agent"),
        ("rerouted", None, "Rerouted: waiting in queue service-desk (L1) for a free agent"),
        ("reopened", None, "Reopened: waiting in queue service-desk (L1) for a free agent"),
        ("priority_change", None, "Priority changed: waiting in queue service-desk (L1) for a free agent"),
    ],
)
async def test_assignment_reads_as_its_reason(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, reason: str, assignee: str | None, summary: str
) -> None:
    envelope = await _apply(sessions, deps, _assigned(incident_id, assignee=assignee, reason=reason))
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee) == ("L1", "service-desk", assignee)
    assert row.updated_at == T0 + timedelta(seconds=1)
    (entry,) = await _received(sessions, incident_id)
    assert (entry.kind, entry.summary, entry.source) == ("assigned", summary, "router")
    assert entry.event_id == envelope.id and entry.at == T0 + timedelta(seconds=1)
    assert entry.data["reason"] == reason and entry.data["assignee"] == assignee
    assert entry.data["tier_entered_at"] == T0.isoformat().replace("+00:00", "Z")


async def test_going_back_to_the_queue_clears_the_assignee(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _assigned(incident_id, assignee="bob"))
    later = T0 + timedelta(minutes=3)
    await _apply(
        sessions, deps, _assigned(incident_id, assignee=None, reason="reassigned", assigned_at=later)
    )
    assert (await _row(sessions, incident_id)).assignee is None
    dequeued = _assigned(
        incident_id, assignee="ann", reason="dequeued", assigned_at=later + timedelta(minutes=1)
    )
    await _apply(sessions, deps, dequeued)
    row = await _row(sessions, incident_id)
    assert (row.queue, row.assignee) == ("service-desk", "ann")
    assert [e.summary for e in await _received(sessions, incident_id)] == [
        "Assigned to bob in service-desk (L1)",
        "Back in the queue: waiting in queue service-desk (L1) for a free agent",
        "Taken from queue service-desk (L1) by ann",
    ]


# -- escalated, up and down ------------------------------------------------------------------


async def test_escalation_up_moves_the_view_and_cancels_the_old_tier_clock(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _assigned(incident_id, assignee="bob"))
    await _tier_clock(sessions, deps, incident_id, "L1")
    event = _escalated(incident_id, "L1", "L2", queue="network-ops", assignee="carol", note="no progress")
    await _apply(sessions, deps, event)
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee) == ("L2", "network-ops", "carol")
    assert await _tier_clock_state(sessions, incident_id) == ("L1", "cancelled")
    entry = (await _received(sessions, incident_id))[-1]
    assert entry.kind == "escalated"
    assert entry.summary == "Escalated L1 -> L2 (sla_breach) to carol in network-ops: no progress"
    assert entry.data["direction"] == "up"


async def test_escalation_to_a_vendor_records_the_vendor_and_its_contract(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    contract = VendorContract(response_seconds=3600, resolution_seconds=86400)
    await _apply(
        sessions,
        deps,
        _escalated(incident_id, "L3", "L4", reason="no_ack", vendor="acme", vendor_contract=contract),
    )
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee, row.vendor) == ("L4", None, None, "acme")
    (entry,) = await _received(sessions, incident_id)
    assert (entry.kind, entry.summary) == ("escalated", "Escalated L3 -> L4 (no_ack) to vendor acme")
    assert entry.data["vendor_contract"] == {"response_seconds": 3600.0, "resolution_seconds": 86400.0}


async def test_escalation_to_a_queue_with_nobody_free_says_it_waits(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    await _apply(sessions, deps, _escalated(incident_id, "L1", "L2", queue="network-ops"))
    (entry,) = await _received(sessions, incident_id)
    assert entry.summary == "Escalated L1 -> L2 (sla_breach) to queue network-ops (waiting for a free agent)"
    assert (await _row(sessions, incident_id)).assignee is None


@pytest.mark.parametrize(
    ("reason", "note", "summary"),
    [
        (
            "vendor_rejected",
            "not our product",
            "De-escalated L4 -> L3 (vendor_rejected), handed back to queue experts"
            " (waiting for a free agent): not our product",
        ),
        (
            "vendor_unreachable",
            "Delivery failed after 5 attempts: 503",
            "De-escalated L4 -> L3 (vendor_unreachable), handed back to queue experts"
            " (waiting for a free agent): Delivery failed after 5 attempts: 503",
        ),
    ],
)
async def test_hand_back_from_the_vendor_reads_as_a_de_escalation(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, reason: str, note: str, summary: str
) -> None:
    await _apply(sessions, deps, _escalated(incident_id, "L3", "L4", vendor="acme"))
    await _tier_clock(sessions, deps, incident_id, "L4")
    back = _escalated(
        incident_id,
        "L4",
        "L3",
        direction="down",
        reason=reason,
        note=note,
        queue="experts",
        escalated_at=T0 + timedelta(hours=1),
    )
    await _apply(sessions, deps, back)
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee, row.vendor) == ("L3", "experts", None, None)
    assert row.updated_at == T0 + timedelta(hours=1)
    assert await _tier_clock_state(sessions, incident_id) == ("L4", "cancelled")
    entry = (await _received(sessions, incident_id))[-1]
    assert (entry.kind, entry.summary) == ("de_escalated", summary)
    assert (entry.data["direction"], entry.data["reason"]) == ("down", reason)


async def test_manual_de_escalation_to_a_person(sessions, deps: IntakeDeps, incident_id: uuid.UUID) -> None:
    await _apply(sessions, deps, _escalated(incident_id, "L1", "L2", queue="network-ops", assignee="carol"))
    down = _escalated(
        incident_id,
        "L2",
        "L1",
        direction="down",
        reason="manual",
        queue="service-desk",
        assignee="bob",
        escalated_at=T0 + timedelta(minutes=20),
    )
    await _apply(sessions, deps, down)
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee) == ("L1", "service-desk", "bob")
    assert [(e.kind, e.summary) for e in await _received(sessions, incident_id)] == [
        ("escalated", "Escalated L1 -> L2 (sla_breach) to carol in network-ops"),
        ("de_escalated", "De-escalated L2 -> L1 (manual), handed back to bob in service-desk"),
    ]


# -- blocked and re-notified: timeline only --------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "reason", "detail"),
    [
        ("top_of_ladder", "sla_breach", TOP_OF_LADDER),
        (
            "no_vendor",
            "no_ack",
            "No vendor takes service 'vpn', category 'network'; the incident stays at L3.",
        ),
    ],
)
async def test_a_blocked_escalation_is_on_the_timeline_and_moves_nothing(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, cause: str, reason: str, detail: str
) -> None:
    await _apply(sessions, deps, _escalated(incident_id, "L2", "L3", queue="experts", assignee="eve"))
    before = await _row(sessions, incident_id)
    at = T0 + timedelta(hours=2)
    event = IncidentEscalationBlocked(
        incident_id=incident_id, tier="L3", reason=reason, cause=cause, detail=detail, at=at
    )
    envelope = await _apply(sessions, deps, event)
    after = await _row(sessions, incident_id)
    assert (after.tier, after.queue, after.assignee, after.updated_at) == (
        before.tier,
        before.queue,
        before.assignee,
        before.updated_at,
    )
    entry = (await _received(sessions, incident_id))[-1]
    assert (entry.kind, entry.at, entry.source, entry.event_id) == (
        "escalation_blocked",
        at,
        "router",
        envelope.id,
    )
    assert entry.summary == f"Escalation ({reason}) blocked at L3: {detail}"
    assert entry.data == {
        "tier": "L3",
        "reason": reason,
        "cause": cause,
        "detail": detail,
        "at": "2026-11-23T11:00:00Z",
    }


@pytest.mark.parametrize(
    ("queue", "assignee", "summary"),
    [
        ("service-desk", "bob", "No acknowledgement within the timeout at L1 (bob); renotify 2 of 3"),
        (
            "service-desk",
            None,
            "No acknowledgement within the timeout at L1 (queue service-desk); renotify 2 of 3",
        ),
        (None, None, "No acknowledgement within the timeout at L1; renotify 2 of 3"),
    ],
)
async def test_a_renotification_is_on_the_timeline_and_moves_nothing(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, queue: str | None, assignee: str | None, summary: str
) -> None:
    await _apply(sessions, deps, _assigned(incident_id, assignee="bob"))
    at = T0 + timedelta(minutes=5)
    event = IncidentRenotified(
        incident_id=incident_id, tier="L1", queue=queue, assignee=assignee, attempt=2, of=3, at=at
    )
    await _apply(sessions, deps, event)
    row = await _row(sessions, incident_id)
    assert (row.tier, row.queue, row.assignee) == ("L1", "service-desk", "bob")
    assert row.updated_at == T0 + timedelta(seconds=1)
    entry = (await _received(sessions, incident_id))[-1]
    assert (entry.kind, entry.summary, entry.at) == ("renotified", summary, at)
    assert (entry.data["attempt"], entry.data["of"]) == (2, 3)


@pytest.mark.parametrize(
    "event",
    [
        IncidentEscalationBlocked(
            incident_id=uuid.uuid4(), tier="L3", reason="sla_breach", cause="top_of_ladder", detail="d", at=T0
        ),
        IncidentRenotified(
            incident_id=uuid.uuid4(), tier="L1", queue="q", assignee="a", attempt=1, of=1, at=T0
        ),
    ],
)
async def test_events_for_an_unknown_incident_are_refused(sessions, deps: IntakeDeps, event: Event) -> None:
    with pytest.raises(NotFound):
        await _apply(sessions, deps, event)
    assert await _received(sessions, event.incident_id) == []  # type: ignore[attr-defined]


def test_every_router_event_has_a_projection() -> None:
    routing = {cls for cls in handlers.handlers.event_types if cls.topic == topics.ROUTING}
    assert routing == {IncidentAssigned, IncidentEscalated, IncidentEscalationBlocked, IncidentRenotified}
    bound = handlers.bind(None)  # type: ignore[arg-type]  # only looked at, never called
    assert bound[IncidentEscalationBlocked].__qualname__ == handlers.on_escalation_blocked.__name__
    assert bound[IncidentRenotified].__qualname__ == handlers.on_renotified.__name__


# -- through Kafka ---------------------------------------------------------------------------


async def test_a_running_intake_projects_the_new_router_events(infra, prefixed) -> None:
    client, prefix = prefixed
    incident = client.post("/v1/incidents", json=vpn_incident(reporter="alice@example.com")).json()
    iid = uuid.UUID(incident["id"])
    start = datetime.fromisoformat(incident["created_at"])

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    sent: list[Event] = [
        _assigned(iid, assignee=None, tier_entered_at=at(1), assigned_at=at(1)),
        IncidentRenotified(
            incident_id=iid, tier="L1", queue="service-desk", assignee=None, attempt=1, of=2, at=at(2)
        ),
        _escalated(iid, "L1", "L2", queue="network-ops", assignee="carol", escalated_at=at(3)),
        IncidentEscalationBlocked(
            incident_id=iid, tier="L2", reason="no_ack", cause="top_of_ladder", detail=TOP_OF_LADDER, at=at(4)
        ),
        _escalated(
            iid,
            "L2",
            "L1",
            direction="down",
            reason="manual",
            queue="service-desk",
            assignee="bob",
            escalated_at=at(5),
        ),
    ]
    await publish_events(infra.bootstrap_servers, prefix, ROUTER, sent)

    def view() -> dict[str, Any] | None:
        body = client.get(f"/v1/incidents/{iid}").json()
        return body if len(body["timeline"]) == 1 + len(sent) else None

    body = await eventually(view, timeout=30, what="the router's events on the timeline")
    assert [e["kind"] for e in body["timeline"]] == [
        "created",
        "assigned",
        "renotified",
        "escalated",
        "escalation_blocked",
        "de_escalated",
    ]
    assert body["timeline"][1]["summary"] == "Waiting in queue service-desk (L1) for a free agent"
    assert all(e["source"] == "router" for e in body["timeline"][1:])
    assert (body["tier"], body["queue"], body["assignee"]) == ("L1", "service-desk", "bob")
