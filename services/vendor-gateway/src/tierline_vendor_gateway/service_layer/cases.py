"""The vendor gateway's use cases: open a case, deliver it, apply a vendor's callback."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import on_commit
from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import (
    Event,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentUpdated,
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)
from tierline_shared.logging import get_logger
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.adapters.orm import (
    CaseRow,
    DeliveryAttemptRow,
    DeliveryRow,
    IncidentSnapshotRow,
    SeenCallbackRow,
)
from tierline_vendor_gateway.adapters.sender import AttemptResult
from tierline_vendor_gateway.config import DeliveryPolicy
from tierline_vendor_gateway.domain.delivery import (
    GIVE_UP_STATUSES,
    asked_to_wait,
    case_payload,
    honour_retry_after,
    is_success,
    next_attempt_delay,
    scheduled_delay,
    should_retry,
)
from tierline_vendor_gateway.domain.text import clean_text
from tierline_vendor_gateway.domain.vendors import Contract
from tierline_vendor_gateway.service_layer import registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

_log = get_logger(__name__)


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    vendor: str
    url: str
    body: bytes
    attempt: int


BRIEF_FIELDS = {
    "title",
    "description",
    "service",
    "category",
    "product",
    "customer",
    "priority",
    "impact",
    "urgency",
    "channel",
    "reporter",
    "created_at",
}
TIMELINE_KEPT = 10


async def _snapshot(session: AsyncSession, incident_id: uuid.UUID) -> IncidentSnapshotRow:
    """The incident's brief, locked; created empty when routing events arrive before the incident's own."""
    await session.execute(
        insert(IncidentSnapshotRow).values(incident_id=incident_id, data={}).on_conflict_do_nothing()
    )
    row = await session.scalar(
        select(IncidentSnapshotRow).where(IncidentSnapshotRow.incident_id == incident_id).with_for_update()
    )
    assert row is not None
    return row


async def remember_incident(session: AsyncSession, event: IncidentCreated) -> None:
    row = await _snapshot(session, event.incident_id)
    row.data = {**row.data, **event.model_dump(mode="json", include=BRIEF_FIELDS)}
    _note(row, event.created_at.isoformat(), "created", f"Opened via {event.channel} by {event.reporter}")


def _note(row: IncidentSnapshotRow, at: str, kind: str, summary: str) -> None:
    """Keep the latest timeline entries a vendor should read first."""
    timeline = [*row.data.get("timeline", []), {"at": at, "kind": kind, "summary": summary}]
    row.data = {**row.data, "timeline": timeline[-TIMELINE_KEPT:]}


async def remember_move(session: AsyncSession, event: IncidentAssigned | IncidentEscalated) -> None:
    """Tier history for the brief: who held the incident, and why it moved."""
    row = await _snapshot(session, event.incident_id)
    if isinstance(event, IncidentEscalated):
        step = {
            "tier": event.to_tier,
            "queue": event.queue,
            "assignee": event.assignee,
            "at": event.escalated_at.isoformat(),
            "reason": event.reason,
        }
        summary = f"{event.from_tier} -> {event.to_tier} ({event.reason})" + (
            f": {event.note}" if event.note else ""
        )
        _note(row, step["at"], "escalated" if event.direction == "up" else "de_escalated", summary)
    else:
        step = {
            "tier": event.tier,
            "queue": event.queue,
            "assignee": event.assignee,
            "at": event.assigned_at.isoformat(),
            "reason": event.reason,
        }
        _note(row, step["at"], "assigned", f"{event.tier} {event.queue}: {event.assignee or 'waiting'}")
    row.data = {**row.data, "tier_history": [*row.data.get("tier_history", []), step][-20:]}


async def remember_update(session: AsyncSession, event: IncidentUpdated) -> None:
    row = await _snapshot(session, event.incident_id)
    changed = {k: c.new for k, c in event.changes.items() if k in BRIEF_FIELDS}
    row.data = {**row.data, **changed}
    _note(row, event.updated_at.isoformat(), "updated", "Changed " + ", ".join(sorted(event.changes)))


async def open_case(session: AsyncSession, deps: GatewayDeps, event: IncidentEscalated) -> CaseRow | None:
    """Queue a signed delivery of the case to the vendor the router chose."""
    if event.to_tier != "L4" or not event.vendor:
        return None
    registered = await registry.find(session, event.vendor)
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
    if registered is None:
        await _fail_at_once(session, deps, case, "the vendor is not registered in the gateway")
        return case
    vendor = registered.vendor
    snapshot = await session.scalar(
        select(IncidentSnapshotRow.data).where(IncidentSnapshotRow.incident_id == event.incident_id)
    )
    brief = dict(snapshot or {})
    incident: dict[str, Any] = {
        "id": str(event.incident_id),
        **{k: v for k, v in brief.items() if k in BRIEF_FIELDS},
        "tier_history": brief.get("tier_history", []),
        "timeline": brief.get("timeline", []),
    }
    public = deps.public_url.rstrip("/")
    links = {"case": f"{public}/v1/cases/{case.id}"}
    if deps.intake_url:
        links["incident"] = f"{deps.intake_url.rstrip('/')}/v1/incidents/{event.incident_id}"
    body = case_payload(
        case_id=str(case.id),
        vendor=vendor.name,
        incident=incident,
        escalation={
            "from_tier": event.from_tier,
            "reason": event.reason,
            "note": event.note,
            "contract": _contract(event, vendor.contract),
        },
        callback_url=f"{public}/v1/vendors/{vendor.name}/callbacks",
        timestamp=now,
        links=links,
    )
    delivery = DeliveryRow(
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
    session.add(delivery)
    if not registered.is_enabled:
        # Kept dead rather than dropped: replaying it after the endpoint is re-enabled sends the case.
        delivery.status, delivery.last_error = (
            "dead",
            f"the vendor's endpoint is disabled: {registered.disabled_reason}",
        )
        await _fail_at_once(session, deps, case, delivery.last_error)
    return case


def _contract(event: IncidentEscalated, registered: Contract | None) -> dict[str, Any] | None:
    """The contract the router chose, else the vendor's own from the registry."""
    if event.vendor_contract is not None:
        return event.vendor_contract.model_dump()
    return registered.in_seconds() if registered else None


async def _fail_at_once(session: AsyncSession, deps: GatewayDeps, case: CaseRow, error: str) -> None:
    await deps.outbox.add(session, _failed(case, 0, error, case.created_at))


def _failed(case: CaseRow, attempts: int, error: str, now: datetime) -> VendorDeliveryFailed:
    """The case goes back: failed here, and the router returns the incident to L3 on the event."""
    case.status, case.updated_at = "failed", now
    return VendorDeliveryFailed(
        incident_id=case.incident_id,
        vendor=case.vendor,
        case_id=case.id,
        attempts=attempts,
        last_error=error,
        failed_at=now,
    )


async def claim_due_deliveries(
    session: AsyncSession, deps: GatewayDeps, *, limit: int, lease: timedelta
) -> list[ClaimedDelivery]:
    """Take due deliveries for one attempt; the lease hides them from other workers meanwhile."""
    now = deps.clock.now()
    due = (
        select(DeliveryRow.id)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
        .order_by(DeliveryRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id.in_(due.scalar_subquery()))
        .values(attempts=DeliveryRow.attempts + 1, next_attempt_at=now + lease, leased_until=now + lease)
        .returning(
            DeliveryRow.id, DeliveryRow.vendor, DeliveryRow.url, DeliveryRow.body, DeliveryRow.attempts
        )
        .execution_options(synchronize_session=False)
    )
    return [ClaimedDelivery(*row) for row in rows]


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
    return clean_text(str(ref), limit=200)


def _next_attempt_at(
    policy: DeliveryPolicy, row: DeliveryRow, result: AttemptResult, now: datetime
) -> datetime | None:
    """When to try again, or None when the schedule is spent or the answer is final.

    The vendor's Retry-After can lengthen the wait our schedule or backoff gives, never shorten
    it, up to delivery.max_backoff (domain.delivery.honour_retry_after says why).
    """
    if result.final or not should_retry(result.status) or row.attempts >= policy.attempts:
        return None
    if policy.schedule is None:
        return now + next_attempt_delay(
            row.attempts,
            result.status,
            result.retry_after,
            now,
            initial=policy.initial_backoff,
            cap=policy.max_backoff,
        )
    step = scheduled_delay(policy.schedule, row.attempts)
    asked = asked_to_wait(result.status, result.retry_after, now)
    return now + honour_retry_after(step, asked, policy.max_backoff)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, with the retry policy of the delivery's vendor and the URL it went to."""

    claimed: ClaimedDelivery
    result: AttemptResult
    policy: DeliveryPolicy | None = None
    url: str | None = None  # None: no request was made (vendor unknown or disabled)


async def record_attempt(
    session: AsyncSession,
    deps: GatewayDeps,
    claimed: ClaimedDelivery,
    result: AttemptResult,
    policy: DeliveryPolicy | None = None,
) -> str:
    """Apply one attempt's outcome and log it; returns the delivery's new status."""
    [status] = await record_attempts(session, deps, [Outcome(claimed, result, policy, claimed.url)])
    return status


async def record_attempts(session: AsyncSession, deps: GatewayDeps, outcomes: list[Outcome]) -> list[str]:
    """Apply a batch of attempts' outcomes in a few set-based statements; returns each new status.

    One query locks every delivery and its case; the log rows go in one INSERT, the events in
    one outbox INSERT, and the updates are flushed together. A vendor whose endpoint answered
    410 Gone is disabled (and announced) once, however many of its deliveries said so.
    """
    rows = await session.execute(
        select(DeliveryRow, CaseRow)
        .join(CaseRow, CaseRow.id == DeliveryRow.case_id)
        .where(DeliveryRow.id.in_([o.claimed.id for o in outcomes]))
        .order_by(DeliveryRow.id)
        .with_for_update()
    )
    found = {delivery.id: (delivery, case) for delivery, case in rows}
    current = await registry.load(session, {o.claimed.vendor for o in outcomes})
    now = deps.clock.now()
    log: list[dict[str, Any]] = []
    events: list[Event] = []
    gone: set[str] = set()
    statuses = []
    for outcome in outcomes:
        pair = found.get(outcome.claimed.id)
        if pair is None:
            statuses.append("missing")
            continue
        delivery, case = pair
        if delivery.status != "pending" or delivery.attempts != outcome.claimed.attempt:
            # Done already, or a newer attempt owns this delivery now (our lease ran out).
            statuses.append(delivery.status)
            continue
        delivery.leased_until = None  # the attempt is over, whatever comes next
        if outcome.url is not None:
            delivery.url = outcome.url
        log.append(_log_row(delivery, outcome.result, now))
        registered = current.get(delivery.vendor)
        endpoint = str(registered.vendor.webhook_url) if registered else None
        events.extend(_apply(session, deps, delivery, case, outcome, now, endpoint, gone))
        statuses.append(delivery.status)
    if log:
        await session.execute(insert(DeliveryAttemptRow), log)
    for vendor in sorted(gone):  # one lock order for every worker
        await registry.switch(session, deps, vendor, enabled=False, reason="HTTP 410 Gone from its endpoint")
    await deps.outbox.add_many(session, events)
    return statuses


def _log_row(delivery: DeliveryRow, result: AttemptResult, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "delivery_id": delivery.id,
        "vendor": delivery.vendor,
        "attempt": delivery.attempts,
        "status_code": result.status,
        "latency_ms": round(result.latency_seconds * 1000, 3),
        "error": result.error,
        "response_excerpt": result.response_excerpt,
        "attempted_at": now,
    }


def _apply(
    session: AsyncSession,
    deps: GatewayDeps,
    row: DeliveryRow,
    case: CaseRow,
    outcome: Outcome,
    now: datetime,
    endpoint: str | None,
    gone: set[str],
) -> list[Event]:
    """Move the delivery and its case on after one attempt; the events that announces.

    ``endpoint`` is the vendor's URL now; a vendor whose endpoint is gone is added to ``gone``.
    """
    result = outcome.result
    row.last_status_code, row.last_error = result.status, result.error
    if result.status is not None and is_success(result.status):
        row.status, row.delivered_at = "delivered", now
        _count(session, "delivered")
        case.vendor_reference = _vendor_reference(result.response_excerpt) or case.vendor_reference
        if case.status not in ("pending", "failed"):
            return []  # a replay of a case the vendor already has: it changes nothing
        case.status, case.updated_at = "open", now
        return [
            VendorCaseOpened(
                incident_id=case.incident_id,
                vendor=case.vendor,
                case_id=case.id,
                vendor_reference=case.vendor_reference,
                opened_at=now,
            )
        ]
    is_gone = result.status in GIVE_UP_STATUSES
    if is_gone and outcome.url is not None and outcome.url != endpoint:
        # The endpoint that is gone is not the vendor's any more (it was changed meanwhile):
        # try the new one at once rather than disable it.
        row.next_attempt_at = now
        _count(session, "retrying")
        return []
    retry_at = _next_attempt_at(outcome.policy or deps.delivery, row, result, now)
    if retry_at is not None:
        row.next_attempt_at = retry_at
        _count(session, "retrying")
        return []
    events: list[Event] = []
    if is_gone:
        gone.add(row.vendor)
        events.append(
            VendorEndpointDisabled(
                incident_id=case.incident_id,
                vendor=case.vendor,
                case_id=case.id,
                url=row.url,
                disabled_at=now,
            )
        )
    events.append(_dead(session, row, case, result.error or "unknown error", now))
    return events


def _dead(
    session: AsyncSession, row: DeliveryRow, case: CaseRow, error: str, now: datetime
) -> VendorDeliveryFailed:
    row.status = "dead"
    _count(session, "dead")
    _log.warning("delivery_dead_lettered", delivery_id=row.id, vendor=row.vendor, attempts=row.attempts)
    return _failed(case, row.attempts, error, now)


def _count(session: AsyncSession, outcome: str) -> None:
    """Count the outcome once the transaction that records it commits."""
    on_commit(session, lambda: metrics.delivered(outcome))


async def dead_letter_unrecorded(
    session: AsyncSession, deps: GatewayDeps, claimed: ClaimedDelivery, reason: str
) -> bool:
    """Give up on a delivery whose attempt cannot be recorded, rather than resend it for ever."""
    rows = await session.execute(
        select(DeliveryRow, CaseRow)
        .join(CaseRow, CaseRow.id == DeliveryRow.case_id)
        .where(DeliveryRow.id == claimed.id)
        .with_for_update()
    )
    pair = rows.first()
    if pair is None:
        return False
    row, case = pair
    if row.status != "pending" or row.attempts != claimed.attempt:
        return False
    row.last_error, row.leased_until = f"the attempt could not be recorded: {reason}", None
    await deps.outbox.add(session, _dead(session, row, case, row.last_error, deps.clock.now()))
    return True


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
    callback = replace(
        callback,
        reference=clean_text(callback.reference, limit=200),
        status=clean_text(callback.status, limit=80),
        note=clean_text(callback.note, multiline=True),
        resolution=clean_text(callback.resolution, multiline=True),
    )
    case = await session.scalar(select(CaseRow).where(CaseRow.id == callback.case_id).with_for_update())
    if case is None or case.vendor != vendor:
        raise NotFound(f"Vendor {vendor} has no case {callback.case_id}.")
    if case.status in ("resolved", "rejected"):
        raise Conflict(f"The case is already {case.status}.", case_status=case.status)
    now = deps.clock.now()
    case.vendor_reference = callback.reference or case.vendor_reference
    case.updated_at = now
    event: Event
    if callback.action == "resolved":
        case.status = "resolved"
        event = VendorCaseResolved(
            incident_id=case.incident_id,
            vendor=vendor,
            case_id=case.id,
            vendor_reference=case.vendor_reference,
            resolution=callback.resolution or callback.note,
            resolved_at=now,
        )
    elif callback.action == "rejected":
        case.status = "rejected"
        event = VendorCaseRejected(
            incident_id=case.incident_id,
            vendor=vendor,
            case_id=case.id,
            vendor_reference=case.vendor_reference,
            reason=callback.note or callback.status,
            rejected_at=now,
        )
    elif callback.action == "acknowledged":
        case.status = "acknowledged"
        event = VendorCaseAcknowledged(
            incident_id=case.incident_id,
            vendor=vendor,
            case_id=case.id,
            vendor_reference=case.vendor_reference,
            note=callback.note,
            acknowledged_at=now,
        )
    else:
        event = VendorCaseUpdated(
            incident_id=case.incident_id,
            vendor=vendor,
            case_id=case.id,
            status=callback.status or callback.action,
            vendor_reference=case.vendor_reference,
            note=callback.note,
            updated_at=now,
        )
    await deps.outbox.add(session, event)
    return True
