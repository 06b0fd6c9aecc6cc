"""Which consumed event the vendor gateway acts on."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.events import (
    Envelope,
    Event,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentUpdated,
)
from tierline_shared.messaging.consumer import Handler
from tierline_vendor_gateway.service_layer import cases
from tierline_vendor_gateway.service_layer.deps import GatewayDeps


def bind(deps: GatewayDeps) -> dict[type[Event], Handler]:
    async def on_created(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentCreated)
        await cases.remember_incident(session, envelope.data)

    async def on_assigned(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentAssigned)
        await cases.remember_move(session, envelope.data)

    async def on_updated(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentUpdated)
        await cases.remember_update(session, envelope.data)

    async def on_escalated(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentEscalated)
        await cases.remember_move(session, envelope.data)
        await cases.open_case(session, deps, envelope.data)

    return {
        IncidentCreated: on_created,
        IncidentAssigned: on_assigned,
        IncidentUpdated: on_updated,
        IncidentEscalated: on_escalated,
    }
