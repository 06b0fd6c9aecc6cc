"""Which consumed event starts or stops which clock."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import advisory_xact_lock
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
)
from tierline_shared.messaging.consumer import Handler
from tierline_sla_monitor.service_layer import clocks
from tierline_sla_monitor.service_layer.clocks import SlaDeps


async def lock_incident(session: AsyncSession, incident_id: uuid.UUID) -> None:
    """One incident's events may arrive on several topics at once: apply them one at a time."""
    await advisory_xact_lock(session, str(incident_id))


def serialized(handler: Handler) -> Handler:
    async def locked(session: AsyncSession, envelope: Envelope) -> None:
        await lock_incident(session, envelope.data.incident_id)
        await handler(session, envelope)

    return locked


def bind(deps: SlaDeps) -> dict[type[Event], Handler]:
    return {event: serialized(handler) for event, handler in _bind(deps).items()}


def _bind(deps: SlaDeps) -> dict[type[Event], Handler]:
    async def on_created(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentCreated)
        await clocks.start_incident_clocks(session, deps, envelope.data)

    async def on_assigned(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentAssigned)
        await clocks.restart_tier_clock(
            session,
            deps,
            incident_id=e.incident_id,
            tier=e.tier,
            budget_seconds=e.tier_budget_seconds,
            at=e.assigned_at,
            entered_at=e.tier_entered_at,
        )

    async def on_escalated(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentEscalated)
        await clocks.restart_tier_clock(
            session,
            deps,
            incident_id=e.incident_id,
            tier=e.to_tier,
            budget_seconds=e.tier_budget_seconds,
            at=e.escalated_at,
        )

    async def on_acknowledged(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentAcknowledged)
        await clocks.stop_response_clock(session, deps, e.incident_id, e.acknowledged_at)

    async def on_resolved(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentResolved)
        await clocks.stop_all_clocks(session, deps, e.incident_id, e.resolved_at)

    async def on_updated(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentUpdated)
        if "priority" in e.changes:
            await clocks.recalculate_for_priority(session, deps, e.incident_id, e.priority, e.updated_at)

    async def on_reopened(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentReopened)
        await clocks.restart_after_reopen(session, deps, e.incident_id, e.priority, e.reopened_at)

    return {
        IncidentUpdated: on_updated,
        IncidentReopened: on_reopened,
        IncidentCreated: on_created,
        IncidentAssigned: on_assigned,
        IncidentEscalated: on_escalated,
        IncidentAcknowledged: on_acknowledged,
        IncidentResolved: on_resolved,
    }
