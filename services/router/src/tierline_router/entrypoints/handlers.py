"""Which consumed event drives which routing use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.service_layer import routing
from tierline_router.service_layer.routing import RouterDeps
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentAcknowledged,
    IncidentCreated,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
    SlaBreached,
    VendorCaseRejected,
    VendorChanged,
    VendorDeliveryFailed,
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
            await routing.escalate_when_due(
                session, deps, event.incident_id, tier=event.tier, reason="sla_breach"
            )

    async def on_acknowledged(session: AsyncSession, envelope: Envelope) -> None:
        await routing.acknowledge(session, deps, envelope.data.incident_id)

    async def on_resolved(session: AsyncSession, envelope: Envelope) -> None:
        await routing.release(session, deps, envelope.data.incident_id)

    async def on_updated(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, IncidentUpdated)
        await routing.apply_update(session, deps, envelope.data)

    async def on_reopened(session: AsyncSession, envelope: Envelope) -> None:
        await routing.reactivate(session, deps, envelope.data.incident_id)

    async def on_vendor_rejected(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorCaseRejected)
        await routing.return_from_vendor(
            session, deps, e.incident_id, vendor=e.vendor, reason="vendor_rejected", note=e.reason
        )

    async def on_delivery_failed(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorDeliveryFailed)
        await routing.return_from_vendor(
            session,
            deps,
            e.incident_id,
            vendor=e.vendor,
            reason="vendor_unreachable",
            note=f"Delivery failed after {e.attempts} attempts: {e.last_error}",
        )

    async def on_vendor_changed(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, VendorChanged)
        await repo.list_vendor(session, envelope.data)

    return {
        IncidentCreated: on_created,
        SlaBreached: on_breached,
        IncidentAcknowledged: on_acknowledged,
        IncidentResolved: on_resolved,
        IncidentUpdated: on_updated,
        IncidentReopened: on_reopened,
        VendorCaseRejected: on_vendor_rejected,
        VendorDeliveryFailed: on_delivery_failed,
        VendorChanged: on_vendor_changed,
    }
