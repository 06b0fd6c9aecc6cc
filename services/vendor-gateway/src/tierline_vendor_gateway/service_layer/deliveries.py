"""Webhook deliveries: claiming due ones, recording attempts' outcomes, and operators' replay and retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import Event
from tierline_shared.logging import get_logger
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.domain.webhook import (
    AttemptRecord,
    AttemptResult,
    ClaimedDelivery,
    Delivery,
    Verdict,
)
from tierline_vendor_gateway.service_layer import endpoints
from tierline_vendor_gateway.service_layer.deps import DeliveryPolicy, GatewayDeps
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

_log = get_logger(__name__)

__all__ = ["AttemptResult", "ClaimedDelivery", "Outcome"]


async def claim_due_deliveries(
    uow: GatewayUnitOfWork, deps: GatewayDeps, *, limit: int, lease: timedelta
) -> list[ClaimedDelivery]:
    """Take due deliveries for one attempt; the lease hides them from other workers meanwhile."""
    return await uow.deliveries.claim_due(deps.clock.now(), limit=limit, lease=lease)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, with the retry policy of the delivery's vendor and the URL it went to."""

    claimed: ClaimedDelivery
    result: AttemptResult
    policy: DeliveryPolicy | None = None
    url: str | None = None  # None: no request was made (vendor unknown or disabled)


async def record_attempt(
    uow: GatewayUnitOfWork,
    deps: GatewayDeps,
    claimed: ClaimedDelivery,
    result: AttemptResult,
    policy: DeliveryPolicy | None = None,
) -> str:
    """Apply one attempt's outcome and log it; returns the delivery's new status."""
    [status] = await record_attempts(uow, deps, [Outcome(claimed, result, policy, claimed.url)])
    return status


async def record_attempts(uow: GatewayUnitOfWork, deps: GatewayDeps, outcomes: list[Outcome]) -> list[str]:
    """Apply a batch of attempts' outcomes in a few set-based statements; returns each new status.

    One query locks every delivery and its case; the log rows go in one INSERT, the events in
    one outbox INSERT, and the updates are flushed together. A vendor whose endpoint answered
    410 Gone is disabled (and announced) once, however many of its deliveries said so.
    """
    found = await uow.deliveries.lock_with_cases([o.claimed.id for o in outcomes])
    current = await endpoints.current(uow, {o.claimed.vendor for o in outcomes})
    now = deps.clock.now()
    log: list[AttemptRecord] = []
    events: list[Event] = []
    gone: set[str] = set()
    statuses = []
    for outcome in outcomes:
        pair = found.get(outcome.claimed.id)
        if pair is None:
            statuses.append("missing")
            continue
        delivery, case = pair
        if not delivery.is_attempt(outcome.claimed.attempt):
            # Done already, or a newer attempt owns this delivery now (our lease ran out).
            statuses.append(delivery.status)
            continue
        log.append(delivery.log(outcome.result, now))
        registered = current.get(delivery.vendor)
        verdict = delivery.record(
            case,
            outcome.result,
            url=outcome.url,
            endpoint=str(registered.vendor.webhook_url) if registered else None,
            policy=outcome.policy or deps.delivery,
            now=now,
        )
        _counted(uow, delivery, verdict)
        if verdict.endpoint_gone:
            gone.add(delivery.vendor)
        events.extend(verdict.events)
        uow.deliveries.save(delivery)
        uow.cases.save(case)
        statuses.append(delivery.status)
    await uow.attempts.append(log)
    for vendor in sorted(gone):  # one lock order for every worker
        await endpoints.disable_gone(uow, deps, vendor)
    await uow.announce_many(events)
    return statuses


def _counted(uow: GatewayUnitOfWork, delivery: Delivery, verdict: Verdict) -> None:
    """Count the outcome once the transaction that records it commits."""
    outcome = verdict.outcome
    uow.after_commit(lambda: metrics.delivered(outcome))
    if outcome == "dead":
        _dead_lettered(delivery)


def _dead_lettered(delivery: Delivery) -> None:
    _log.warning(
        "delivery_dead_lettered", delivery_id=delivery.id, vendor=delivery.vendor, attempts=delivery.attempts
    )


async def dead_letter_unrecorded(
    uow: GatewayUnitOfWork, deps: GatewayDeps, claimed: ClaimedDelivery, reason: str
) -> bool:
    """Give up on a delivery whose attempt cannot be recorded, rather than resend it for ever."""
    pair = (await uow.deliveries.lock_with_cases([claimed.id])).get(claimed.id)
    if pair is None:
        return False
    delivery, case = pair
    if not delivery.is_attempt(claimed.attempt):
        return False
    failed = delivery.give_up_unrecorded(case, reason, deps.clock.now())
    uow.after_commit(lambda: metrics.delivered("dead"))
    _dead_lettered(delivery)
    uow.deliveries.save(delivery)
    uow.cases.save(case)
    await uow.announce(failed)
    return True


async def _locked(uow: GatewayUnitOfWork, delivery_id: str) -> Delivery:
    """The delivery, its row locked as the worker locks it (claims skip it, recording waits for it)."""
    delivery = await uow.deliveries.get_delivery(delivery_id, lock=True)
    if delivery is None:
        raise NotFound(f"There is no delivery {delivery_id!r}.")
    return delivery


async def _require_enabled(uow: GatewayUnitOfWork, delivery: Delivery) -> None:
    registered = await endpoints.find(uow, delivery.vendor)
    if registered is not None and not registered.is_enabled:
        raise Conflict(
            f"Vendor {delivery.vendor}'s endpoint is disabled; re-enable it first.",
            delivery_status=delivery.status,
        )


async def replay(uow: GatewayUnitOfWork, deps: GatewayDeps, delivery_id: str) -> Delivery:
    """Send a delivery again with the same webhook-id (receivers dedupe on it), on a fresh schedule."""
    delivery = await _locked(uow, delivery_id)
    delivery.check_replayable()
    await _require_enabled(uow, delivery)
    case = await uow.cases.get_case(delivery.case_id, lock=True)
    assert case is not None
    delivery.replay(case, deps.clock.now())
    uow.deliveries.save(delivery)
    uow.cases.save(case)
    return delivery


async def retry_now(uow: GatewayUnitOfWork, deps: GatewayDeps, delivery_id: str) -> Delivery:
    """Make a delivery due at once: a pending one's next attempt is pulled to now, a dead one is replayed.

    The row is locked first, as the worker's claim and recording lock it, so an attempt a worker
    has claimed is seen (its lease) and never sent twice: that is a 409, as is a delivered
    message (replay sends one again on purpose). A pulled attempt counts as the schedule's next;
    what follows it is the schedule's step after that.
    """
    delivery = await _locked(uow, delivery_id)
    if delivery.status == "dead":
        return await replay(uow, deps, delivery_id)
    delivery.check_retry_now()
    await _require_enabled(uow, delivery)
    delivery.pull_next_attempt(deps.clock.now())
    uow.deliveries.save(delivery)
    return delivery


async def queue_depth(uow: GatewayUnitOfWork) -> dict[str, int]:
    """Deliveries by status: pending is the queue, dead the dead letters."""
    return await uow.deliveries.count_by_status()
