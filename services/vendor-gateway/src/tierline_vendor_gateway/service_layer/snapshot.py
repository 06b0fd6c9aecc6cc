"""Remembering what intake and the router announce about incidents, to brief vendors on handoff."""

from __future__ import annotations

from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated, IncidentUpdated
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork


async def remember_incident(uow: GatewayUnitOfWork, event: IncidentCreated) -> None:
    brief = await uow.briefs.lock(event.incident_id)
    brief.remember_created(event)
    uow.briefs.save(brief)


async def remember_move(uow: GatewayUnitOfWork, event: IncidentAssigned | IncidentEscalated) -> None:
    brief = await uow.briefs.lock(event.incident_id)
    brief.remember_move(event)
    uow.briefs.save(brief)


async def remember_update(uow: GatewayUnitOfWork, event: IncidentUpdated) -> None:
    brief = await uow.briefs.lock(event.incident_id)
    brief.remember_update(event)
    uow.briefs.save(brief)
