"""Which consumed event feeds which read-model projection."""

from __future__ import annotations

from tierline_intake.service_layer import projections, sla_projections
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork, Origin
from tierline_shared.events import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)
from tierline_shared.messaging.handlers import Consumed, Handlers

handlers: Handlers[IntakeDeps] = Handlers()
bind = handlers.bind


def _uow(c: Consumed[IntakeDeps]) -> IntakeUnitOfWork:
    return c.deps.unit_of_work(c.session)


# -- the router ------------------------------------------------------------------------------


@handlers.handles(IncidentAssigned)
async def on_assigned(event: IncidentAssigned, c: Consumed[IntakeDeps]) -> None:
    await projections.on_assigned(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(IncidentEscalated)
async def on_escalated(event: IncidentEscalated, c: Consumed[IntakeDeps]) -> None:
    await projections.on_escalated(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(IncidentEscalationBlocked)
async def on_escalation_blocked(event: IncidentEscalationBlocked, c: Consumed[IntakeDeps]) -> None:
    await projections.on_escalation_blocked(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(IncidentRenotified)
async def on_renotified(event: IncidentRenotified, c: Consumed[IntakeDeps]) -> None:
    await projections.on_renotified(_uow(c), event, Origin.of(c.envelope))


# -- the SLA monitor -------------------------------------------------------------------------


@handlers.handles(SlaClockStarted)
async def on_clock_started(event: SlaClockStarted, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_clock_started(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaBreached)
async def on_breached(event: SlaBreached, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_breached(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaMet)
async def on_met(event: SlaMet, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_met(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaRecalculated)
async def on_recalculated(event: SlaRecalculated, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_recalculated(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaWarning)
async def on_warning(event: SlaWarning, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_warning(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaClockPaused)
async def on_paused(event: SlaClockPaused, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_paused(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaClockResumed)
async def on_resumed(event: SlaClockResumed, c: Consumed[IntakeDeps]) -> None:
    await sla_projections.on_resumed(_uow(c), event, Origin.of(c.envelope))


# -- the vendor gateway ----------------------------------------------------------------------


@handlers.handles(VendorCaseOpened)
async def on_case_opened(event: VendorCaseOpened, c: Consumed[IntakeDeps]) -> None:
    await projections.on_case_opened(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(VendorCaseUpdated)
async def on_case_updated(event: VendorCaseUpdated, c: Consumed[IntakeDeps]) -> None:
    await projections.on_case_updated(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(VendorCaseAcknowledged)
async def on_case_acknowledged(event: VendorCaseAcknowledged, c: Consumed[IntakeDeps]) -> None:
    await projections.on_case_acknowledged(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(VendorCaseRejected)
async def on_case_rejected(event: VendorCaseRejected, c: Consumed[IntakeDeps]) -> None:
    await projections.on_case_rejected(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(VendorEndpointDisabled)
async def on_endpoint_disabled(event: VendorEndpointDisabled, c: Consumed[IntakeDeps]) -> None:
    await projections.on_endpoint_disabled(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(VendorCaseResolved)
async def on_case_resolved(event: VendorCaseResolved, c: Consumed[IntakeDeps]) -> None:
    await projections.on_case_resolved(_uow(c), c.deps, event, Origin.of(c.envelope))


@handlers.handles(VendorDeliveryFailed)
async def on_delivery_failed(event: VendorDeliveryFailed, c: Consumed[IntakeDeps]) -> None:
    await projections.on_delivery_failed(_uow(c), event, Origin.of(c.envelope))
