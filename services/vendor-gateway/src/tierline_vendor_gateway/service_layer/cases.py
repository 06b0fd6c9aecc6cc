"""The vendor gateway's use cases: open a case, deliver it, apply a vendor's callback."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.clock import Clock
from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import (
    IncidentCreated,
    IncidentEscalated,
    VendorCaseOpened,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
)
from tierline_shared.logging import get_logger
from tierline_shared.messaging.outbox import Outbox
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryRow, IncidentSnapshotRow, SeenCallbackRow
from tierline_vendor_gateway.adapters.sender import AttemptResult
from tierline_vendor_gateway.config import VendorsConfig
from tierline_vendor_gateway.domain.delivery import case_payload, is_success, next_attempt_delay, should_retry

_log = get_logger(__name__)


@dataclass(frozen=True)
class GatewayDeps:
    outbox: Outbox
    clock: Clock
    vendors: VendorsConfig
    public_url: str


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    vendor: str
    url: str
    body: bytes
    attempt: int


async def remember_incident(session: AsyncSession, event: IncidentCreated) -> None:
    data = event.model_dump(
        mode="json", include={"title", "description", "service", "category", "priority", "created_at"}
    )
    await session.execute(
        insert(IncidentSnapshotRow).values(incident_id=event.incident_id, data=data).on_conflict_do_nothing()
    )


async def open_case(session: AsyncSession, deps: GatewayDeps, event: IncidentEscalated) -> CaseRow | None:
    """Queue a signed delivery of the case to the vendor the router chose."""
    if event.to_tier != "L4" or not event.vendor:
        return None
    vendor = deps.vendors.vendor(event.vendor)
    now = deps.clock.now()
    case = CaseRow(
        id=uuid.uuid4(),
        incident_id=event.incident_id,
        vendor=event.vendor,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    if vendor is None:
        case.status = "failed"
        await deps.outbox.add(
            session,
            VendorDeliveryFailed(
                incident_id=event.incident_id,
                vendor=event.vendor,
                case_id=case.id,
                attempts=0,
                last_error="vendor is not configured in the gateway",
                failed_at=now,
            ),
        )
        return case
    snapshot = await session.scalar(
        select(IncidentSnapshotRow.data).where(IncidentSnapshotRow.incident_id == event.incident_id)
    )
    incident: dict[str, Any] = {"id": str(event.incident_id), **(snapshot or {})}
    body = case_payload(
        case_id=str(case.id),
        vendor=vendor.name,
        incident=incident,
        escalation={"from_tier": event.from_tier, "reason": event.reason, "note": event.note},
        callback_url=f"{deps.public_url.rstrip('/')}/v1/vendors/{vendor.name}/callbacks",
        timestamp=now,
    )
    session.add(
        DeliveryRow(
            id=f"msg_{uuid.uuid4().hex}",
            case_id=case.id,
            vendor=vendor.name,
            url=str(vendor.webhook_url),
            body=json.dumps(body, separators=(",", ":")).encode(),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return case


async def claim_due_deliveries(
    session: AsyncSession, deps: GatewayDeps, *, limit: int, lease: timedelta
) -> list[ClaimedDelivery]:
    """Take due deliveries for one attempt; the lease hides them from other workers meanwhile."""
    now = deps.clock.now()
    rows = await session.scalars(
        select(DeliveryRow)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
        .order_by(DeliveryRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = now + lease
        claimed.append(ClaimedDelivery(row.id, row.vendor, row.url, row.body, row.attempts))
    return claimed


def _vendor_reference(excerpt: str) -> str | None:
    try:
        answer = json.loads(excerpt)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    ref = answer.get("reference") or answer.get("vendor_reference")
    if ref is None:
        return None
    # The vendor's text goes into our events and tables: printable characters only, bounded.
    cleaned = "".join(ch for ch in str(ref) if ch.isprintable())[:200]
    return cleaned or None


async def record_attempt(
    session: AsyncSession, deps: GatewayDeps, claimed: ClaimedDelivery, result: AttemptResult
) -> str:
    """Apply one attempt's outcome; returns the delivery's new status."""
    row = await session.scalar(select(DeliveryRow).where(DeliveryRow.id == claimed.id).with_for_update())
    if row is None or row.status != "pending":
        return row.status if row else "missing"
    if row.attempts != claimed.attempt:
        return row.status  # a newer attempt owns this delivery now (our lease ran out)
    case = await session.scalar(select(CaseRow).where(CaseRow.id == row.case_id).with_for_update())
    assert case is not None
    now = deps.clock.now()
    row.last_status_code, row.last_error = result.status, result.error
    if result.status is not None and is_success(result.status):
        row.status, row.delivered_at = "delivered", now
        case.status, case.updated_at = "open", now
        case.vendor_reference = _vendor_reference(result.response_excerpt)
        await deps.outbox.add(
            session,
            VendorCaseOpened(
                incident_id=case.incident_id,
                vendor=case.vendor,
                case_id=case.id,
                vendor_reference=case.vendor_reference,
                opened_at=now,
            ),
        )
        return row.status
    policy = deps.vendors.delivery
    if should_retry(result.status) and row.attempts < policy.max_attempts:
        row.next_attempt_at = now + next_attempt_delay(
            row.attempts,
            result.status,
            result.retry_after,
            now,
            initial=policy.initial_backoff,
            cap=policy.max_backoff,
        )
        return row.status
    row.status = "dead"
    case.status, case.updated_at = "failed", now
    await deps.outbox.add(
        session,
        VendorDeliveryFailed(
            incident_id=case.incident_id,
            vendor=case.vendor,
            case_id=case.id,
            attempts=row.attempts,
            last_error=result.error or "unknown error",
            failed_at=now,
        ),
    )
    _log.warning("delivery_dead_lettered", delivery_id=row.id, vendor=row.vendor, attempts=row.attempts)
    return row.status


@dataclass(frozen=True)
class Callback:
    case_id: uuid.UUID
    action: str
    reference: str | None = None
    status: str | None = None
    note: str | None = None
    resolution: str | None = None


async def apply_callback(
    session: AsyncSession, deps: GatewayDeps, vendor: str, webhook_id: str, callback: Callback
) -> bool:
    """Apply a verified callback once; returns False when this webhook-id was seen before."""
    fresh = await session.scalar(
        insert(SeenCallbackRow)
        .values(webhook_id=webhook_id, vendor=vendor, received_at=deps.clock.now())
        .on_conflict_do_nothing()
        .returning(SeenCallbackRow.webhook_id)
    )
    if fresh is None:
        return False
    case = await session.scalar(select(CaseRow).where(CaseRow.id == callback.case_id).with_for_update())
    if case is None or case.vendor != vendor:
        raise NotFound(f"Vendor {vendor} has no case {callback.case_id}.")
    if case.status == "resolved":
        raise Conflict("The case is already resolved.", case_status=case.status)
    now = deps.clock.now()
    case.vendor_reference = callback.reference or case.vendor_reference
    case.updated_at = now
    if callback.action == "resolved":
        case.status = "resolved"
        await deps.outbox.add(
            session,
            VendorCaseResolved(
                incident_id=case.incident_id,
                vendor=vendor,
                case_id=case.id,
                vendor_reference=case.vendor_reference,
                resolution=callback.resolution or callback.note,
                resolved_at=now,
            ),
        )
    else:
        await deps.outbox.add(
            session,
            VendorCaseUpdated(
                incident_id=case.incident_id,
                vendor=vendor,
                case_id=case.id,
                status=callback.status or callback.action,
                vendor_reference=case.vendor_reference,
                note=callback.note,
                updated_at=now,
            ),
        )
    return True
