"""Which consumed event starts, pauses, re-targets or stops which clock."""

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
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
    VendorCaseAcknowledged,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
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
        if e.to_tier == "L4" and e.vendor:
            contract = e.vendor_contract
            await clocks.start_vendor_clocks(
                session,
                deps,
                e.incident_id,
                vendor=e.vendor,
                response_seconds=contract.response_seconds if contract else None,
                resolution_seconds=contract.resolution_seconds if contract else None,
                at=e.escalated_at,
            )
        elif e.from_tier == "L4":
            await clocks.cancel_vendor_clocks(session, e.incident_id, e.escalated_at)

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
        if "priority" in e.changes or "service" in e.changes:
            await clocks.recalculate(
                session, deps, e.incident_id, priority=e.priority, service=e.service, at=e.updated_at
            )

    async def on_hold(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentPutOnHold)
        await clocks.pause_for_hold(session, deps, e.incident_id, e.reason, e.at)

    async def on_resumed(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentResumed)
        await clocks.resume(session, deps, e.incident_id, e.at)

    async def on_reopened(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, IncidentReopened)
        await clocks.restart_after_reopen(session, deps, e.incident_id, e.priority, e.reopened_at)

    async def on_vendor_updated(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorCaseUpdated)
        await clocks.stop_vendor_clocks(
            session, deps, e.incident_id, e.updated_at, vendor=e.vendor, resolved=False
        )

    async def on_vendor_acknowledged(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorCaseAcknowledged)
        await clocks.stop_vendor_clocks(
            session, deps, e.incident_id, e.acknowledged_at, vendor=e.vendor, resolved=False
        )

    async def on_vendor_resolved(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorCaseResolved)
        await clocks.stop_vendor_clocks(
            session, deps, e.incident_id, e.resolved_at, vendor=e.vendor, resolved=True
        )

    async def on_vendor_gone(session: AsyncSession, envelope: Envelope) -> None:
        e = envelope.data
        assert isinstance(e, VendorCaseRejected | VendorDeliveryFailed)
        at = e.rejected_at if isinstance(e, VendorCaseRejected) else e.failed_at
        await clocks.cancel_vendor_clocks(session, e.incident_id, at, vendor=e.vendor)

    return {
        IncidentUpdated: on_updated,
        IncidentReopened: on_reopened,
        IncidentCreated: on_created,
        IncidentAssigned: on_assigned,
        IncidentEscalated: on_escalated,
        IncidentAcknowledged: on_acknowledged,
        IncidentResolved: on_resolved,
        IncidentPutOnHold: on_hold,
        IncidentResumed: on_resumed,
        VendorCaseUpdated: on_vendor_updated,
        VendorCaseAcknowledged: on_vendor_acknowledged,
        VendorCaseResolved: on_vendor_resolved,
        VendorCaseRejected: on_vendor_gone,
        VendorDeliveryFailed: on_vendor_gone,
    }
