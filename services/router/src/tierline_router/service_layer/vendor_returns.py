"""What the vendor side tells the router: a case given back, and who takes cases at all."""

from __future__ import annotations

import uuid

from tierline_router.service_layer.escalation import move
from tierline_router.service_layer.placement import policy_of
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import VendorChanged
from tierline_shared.events.routing import EscalationReason


async def return_from_vendor(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    vendor: str,
    reason: EscalationReason,
    note: str | None,
) -> None:
    """The vendor turned the case down or could not be reached: back to the tier below L4."""
    await uow.lock_routing()
    assignment = await uow.assignments.load(incident_id, lock=True)
    if assignment is None or not assignment.turn_away(vendor):
        return
    catalog = await uow.catalog.load()
    target = assignment.return_tier(policy_of(catalog, assignment))
    await move(uow, deps, catalog, assignment, target, reason=reason, note=note)


async def list_vendor(uow: RouterUnitOfWork, event: VendorChanged) -> None:
    """Keep the latest word on a vendor; an older announcement arriving late changes nothing."""
    await uow.vendors.record(event)
