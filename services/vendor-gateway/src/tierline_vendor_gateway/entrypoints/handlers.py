"""Which consumed event the vendor gateway acts on."""

from __future__ import annotations

from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated, IncidentUpdated
from tierline_shared.messaging.handlers import Consumed, Handlers
from tierline_vendor_gateway.service_layer import cases, snapshot
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

handlers: Handlers[GatewayDeps] = Handlers()
bind = handlers.bind


@handlers.handles(IncidentCreated)
async def on_created(event: IncidentCreated, c: Consumed[GatewayDeps]) -> None:
    await snapshot.remember_incident(c.deps.unit_of_work(c.session), event)


@handlers.handles(IncidentAssigned)
async def on_assigned(event: IncidentAssigned, c: Consumed[GatewayDeps]) -> None:
    await snapshot.remember_move(c.deps.unit_of_work(c.session), event)


@handlers.handles(IncidentUpdated)
async def on_updated(event: IncidentUpdated, c: Consumed[GatewayDeps]) -> None:
    await snapshot.remember_update(c.deps.unit_of_work(c.session), event)


@handlers.handles(IncidentEscalated)
async def on_escalated(event: IncidentEscalated, c: Consumed[GatewayDeps]) -> None:
    uow = c.deps.unit_of_work(c.session)
    await snapshot.remember_move(uow, event)
    await cases.open_case(uow, c.deps, event)
