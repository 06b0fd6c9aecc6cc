"""Which consumed event drives which routing use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.service_layer import routing
from tierline_router.service_layer.routing import RouterDeps
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentCreated,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
    SlaBreached,
)
from tierline_shared.messaging.consumer import Handler


def bind(deps: RouterDeps) -> dict[type[Event], Handler]:
    async def on_created(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentCreated)
        await routing.assign_new_incident(session, deps, envelope.data)

    async def on_breached(session: AsyncSession, envelope: Envelope) -> None:
        event = envelope.data
        assert isinstance(event, SlaBreached)
        if event.clock == "tier" and event.tier:
            await routing.escalate_on_breach(session, deps, event.incident_id, event.tier)

    async def on_resolved(session: AsyncSession, envelope: Envelope) -> None:
        await routing.release(session, deps, envelope.data.incident_id)

    async def on_updated(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentUpdated)
        await routing.apply_update(
            session, deps, e.incident_id, priority=e.priority, service=e.service, category=e.category
        )

    async def on_reopened(session: AsyncSession, envelope: Envelope) -> None:
        await routing.reactivate(session, deps, envelope.data.incident_id)

    return {
        IncidentCreated: on_created,
        SlaBreached: on_breached,
        IncidentResolved: on_resolved,
        IncidentUpdated: on_updated,
        IncidentReopened: on_reopened,
    }
