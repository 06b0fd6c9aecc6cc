"""Operators' levers on a delivery: replay a finished message, or make a pending one due now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.errors import Conflict, NotFound
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryRow
from tierline_vendor_gateway.service_layer import registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps


async def _locked_delivery(session: AsyncSession, delivery_id: str) -> DeliveryRow:
    """The delivery, its row locked as the worker locks it (claims skip it, recording waits for it)."""
    row = await session.scalar(select(DeliveryRow).where(DeliveryRow.id == delivery_id).with_for_update())
    if row is None:
        raise NotFound(f"There is no delivery {delivery_id!r}.")
    return row


async def _require_enabled(session: AsyncSession, row: DeliveryRow) -> None:
    registered = await registry.find(session, row.vendor)
    if registered is not None and not registered.is_enabled:
        raise Conflict(
            f"Vendor {row.vendor}'s endpoint is disabled; re-enable it first.", delivery_status=row.status
        )


async def replay(session: AsyncSession, deps: GatewayDeps, delivery_id: str) -> DeliveryRow:
    """Send a delivery again with the same webhook-id (receivers dedupe on it), on a fresh schedule."""
    row = await _locked_delivery(session, delivery_id)
    if row.status == "pending":
        raise Conflict(
            f"The delivery is still being attempted; POST /v1/deliveries/{row.id}/retry makes its next "
            "attempt due now.",
            delivery_status=row.status,
        )
    await _require_enabled(session, row)
    case = await session.scalar(select(CaseRow).where(CaseRow.id == row.case_id).with_for_update())
    assert case is not None
    now = deps.clock.now()
    row.status, row.attempts, row.next_attempt_at, row.delivered_at = "pending", 0, now, None
    row.leased_until = None
    if case.status == "failed":
        case.status, case.updated_at = "pending", now
    return row


async def retry_now(session: AsyncSession, deps: GatewayDeps, delivery_id: str) -> DeliveryRow:
    """Make a delivery due at once: a pending one's next attempt is pulled to now, a dead one is replayed.

    The row is locked first, as the worker's claim and recording lock it, so an attempt a worker
    has claimed is seen (its lease) and never sent twice: that is a 409, as is a delivered
    message (replay sends one again on purpose). A pulled attempt counts as the schedule's next;
    what follows it is the schedule's step after that.
    """
    row = await _locked_delivery(session, delivery_id)
    if row.status == "dead":
        return await replay(session, deps, delivery_id)
    if row.status == "delivered":
        raise Conflict("The delivery was delivered; replay it to send it again.", delivery_status=row.status)
    await _require_enabled(session, row)
    now = deps.clock.now()
    if row.leased_until is not None and row.leased_until > now:
        raise Conflict(
            "An attempt of this delivery is in flight; its outcome decides the next one.",
            delivery_status=row.status,
        )
    row.next_attempt_at = min(row.next_attempt_at, now)
    return row
