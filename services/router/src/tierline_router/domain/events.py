"""What an assignment's transitions announce: the routing events, built from its state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, cast

from tierline_router.domain.model import (
    TIERS,
    EscalationPolicy,
    ListedVendor,
    NoVendor,
    TopOfLadder,
    VendorRule,
)
from tierline_shared.events import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    VendorContract,
)
from tierline_shared.events.routing import AssignmentReason, EscalationReason, Tier

if TYPE_CHECKING:
    from tierline_router.domain.assignment import Assignment


def tier_of(tier: str) -> Tier:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    return cast(Tier, tier)


def seconds(budget: timedelta | None) -> float | None:
    return budget.total_seconds() if budget is not None else None


def contract_of(rule: VendorRule) -> VendorContract:
    """The vendor's contract as the SLA monitor takes it."""
    return VendorContract(
        response_seconds=seconds(rule.contract.response),
        resolution_seconds=seconds(rule.contract.resolution),
    )


def assigned(
    a: Assignment, policy: EscalationPolicy, reason: AssignmentReason, now: datetime
) -> IncidentAssigned:
    if a.queue is None:
        raise ValueError("an assignment announced without a queue")
    return IncidentAssigned(
        incident_id=a.incident_id,
        tier=tier_of(a.tier),
        queue=a.queue,
        assignee=a.assignee,
        reason=reason,
        tier_budget_seconds=seconds(policy.budget(a.tier)),
        tier_entered_at=a.tier_entered_at,
        assigned_at=now,
    )


def escalated(
    a: Assignment,
    from_tier: str,
    policy: EscalationPolicy,
    reason: EscalationReason,
    note: str | None,
    contract: VendorContract | None,
    now: datetime,
) -> IncidentEscalated:
    return IncidentEscalated(
        incident_id=a.incident_id,
        from_tier=tier_of(from_tier),
        to_tier=tier_of(a.tier),
        direction="up" if TIERS.index(a.tier) > TIERS.index(from_tier) else "down",
        reason=reason,
        note=note,
        queue=a.queue,
        assignee=a.assignee,
        vendor=a.vendor,
        vendor_contract=contract,
        tier_budget_seconds=seconds(policy.budget(a.tier)),
        escalated_at=now,
    )


def no_vendor(a: Assignment, directory: Mapping[str, ListedVendor]) -> NoVendor:
    off = sorted(name for name, listed in directory.items() if not listed.is_enabled)
    return NoVendor(
        f"No vendor takes service {a.service!r}, category {a.category!r}"
        + (f" or product {a.product!r}" if a.product else "")
        + (f" (turned away by {', '.join(a.rejected_by)})" if a.rejected_by else "")
        + (f" (disabled: {', '.join(off)})" if off else "")
        + f"; the incident stays at {a.tier}.",
        service=a.service,
        category=a.category,
    )


def blocked(
    a: Assignment, error: TopOfLadder | NoVendor, reason: EscalationReason, now: datetime
) -> IncidentEscalationBlocked:
    cause: Literal["top_of_ladder", "no_vendor"] = (
        "top_of_ladder" if isinstance(error, TopOfLadder) else "no_vendor"
    )
    return IncidentEscalationBlocked(
        incident_id=a.incident_id,
        tier=tier_of(a.tier),
        reason=reason,
        cause=cause,
        detail=error.detail,
        at=now,
    )


def renotified(a: Assignment, policy: EscalationPolicy, now: datetime) -> IncidentRenotified:
    return IncidentRenotified(
        incident_id=a.incident_id,
        tier=tier_of(a.tier),
        queue=a.queue,
        assignee=a.assignee,
        attempt=a.renotified,
        of=policy.repeat,
        at=now,
    )
