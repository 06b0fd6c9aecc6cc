"""Who holds one incident — tier, queue, agent or vendor — and the moves it makes between them.

``Assignment`` owns its transitions: each method changes the state, enforces the rules of the
ladder and returns the event to publish. Which queue, agent or vendor takes the incident is
decided elsewhere (``model``, ``strategies``) and handed in; time is always passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tierline_router.domain import events
from tierline_router.domain.model import (
    HUMAN_TIERS,
    TIERS,
    BottomOfLadder,
    EscalationPolicy,
    ListedVendor,
    NoVendor,
    Subject,
    TopOfLadder,
    VendorRule,
    next_tier,
    vendor_for,
)
from tierline_shared.errors import Conflict, InvalidInput
from tierline_shared.events import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
)
from tierline_shared.events.routing import AssignmentReason, EscalationReason

ACTIVE, RELEASED = "active", "released"
VENDOR_TIER = "L4"


@dataclass(eq=False)
class Assignment:
    """The router's hold on one incident, from routing to resolution (and any reopening)."""

    incident_id: uuid.UUID
    service: str
    category: str
    product: str | None
    priority: str
    policy: str | None
    tier: str
    tier_entered_at: datetime
    created_at: datetime
    updated_at: datetime
    queue: str | None = None
    assignee: str | None = None
    waiting_since: datetime | None = None  # in a queue, nobody free
    vendor: str | None = None
    rejected_by: list[str] = field(default_factory=list)  # vendors that turned it away
    status: str = ACTIVE
    is_acknowledged: bool = False
    ack_due_at: datetime | None = None
    renotified: int = 0
    escalations: int = 0

    @classmethod
    def open(
        cls, incident_id: uuid.UUID, subject: Subject, policy: EscalationPolicy, now: datetime
    ) -> Assignment:
        """A new incident enters its policy's first tier (no queue yet: ``assign`` places it)."""
        return cls(
            incident_id=incident_id,
            service=subject.service,
            category=subject.category,
            product=subject.product,
            priority=subject.priority,
            policy=policy.name,
            tier=policy.entry_tier,
            tier_entered_at=now,
            created_at=now,
            updated_at=now,
        )

    @property
    def subject(self) -> Subject:
        return Subject.model_validate(
            {
                "service": self.service,
                "category": self.category,
                "priority": self.priority,
                "product": self.product,
            }
        )

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def is_active_at(self, tier: str) -> bool:
        """Still open and still at ``tier``: a timer armed there may act on it."""
        return self.is_active and self.tier == tier

    # --- placement inside a tier ------------------------------------------------------------------

    def assign(
        self,
        queue: str,
        agent: str | None,
        policy: EscalationPolicy,
        *,
        reason: AssignmentReason,
        now: datetime,
    ) -> IncidentAssigned:
        """Put the incident in ``queue`` with ``agent``, or waiting there for someone when None."""
        self._place(queue, agent, policy, now)
        self.updated_at = now
        return events.assigned(self, policy, reason, now)

    def unassign(self, now: datetime) -> str | None:
        """Take the incident off its agent before it is placed again; returns who had it."""
        previous, self.assignee, self.updated_at = self.assignee, None, now
        return previous

    def _place(self, queue: str, agent: str | None, policy: EscalationPolicy, now: datetime) -> None:
        self.queue, self.assignee = queue, agent
        self.waiting_since = None if agent else (self.waiting_since or now)
        self._arm_ack(policy, now)

    def _arm_ack(self, policy: EscalationPolicy, now: datetime) -> None:
        """Someone new holds an unacknowledged incident: their acknowledgement timer starts."""
        self.renotified = 0
        if self.assignee and not self.is_acknowledged and policy.ack_timeout and self.is_active:
            self.ack_due_at = now + policy.ack_timeout
        else:
            self.ack_due_at = None

    # --- moves between tiers ----------------------------------------------------------------------

    def _check_movable(self) -> None:
        if not self.is_active:
            raise Conflict(
                "The incident is resolved; it no longer moves between tiers.", assignment_status=self.status
            )

    def escalation_target(self, policy: EscalationPolicy, *, reason: EscalationReason) -> str:
        """One rung up the ladder; a person (``manual``) may go past the ladder's top, up to L4."""
        self._check_movable()
        target = policy.tier_above(self.tier)
        if target is not None:
            return target
        if reason != "manual":
            raise TopOfLadder(
                f"The incident is at the top of its escalation ladder ({self.tier}).", tier=self.tier
            )
        return next_tier(self.tier)

    def de_escalation_target(self, policy: EscalationPolicy, to_tier: str | None) -> str:
        """The human tier below to hand back to: the one asked for, else the ladder's rung below."""
        self._check_movable()
        target = to_tier or policy.tier_below(self.tier)
        if target is None:
            raise BottomOfLadder(f"The incident is at {self.tier}; there is no lower tier.", tier=self.tier)
        if TIERS.index(target) >= TIERS.index(self.tier) or target not in HUMAN_TIERS:
            raise InvalidInput(
                f"to_tier must be a human tier below the current one ({self.tier}).",
                errors=[
                    {
                        "field": "to_tier",
                        "reason": f"not a human tier below {self.tier}",
                        "pointer": "/to_tier",
                    }
                ],
                tier=self.tier,
            )
        return target

    def move_to(
        self,
        tier: str,
        queue: str,
        agent: str | None,
        policy: EscalationPolicy,
        *,
        reason: EscalationReason,
        note: str | None = None,
        now: datetime,
    ) -> IncidentEscalated:
        """Hand the incident to human ``tier`` (up or down), in ``queue`` with ``agent`` (None: waiting)."""
        if tier not in HUMAN_TIERS:
            raise ValueError(f"{tier} is not a human tier: hand_to_vendor takes L4")
        from_tier = self._enter(tier, now)
        self.vendor = None
        self._place(queue, agent, policy, now)
        return events.escalated(self, from_tier, policy, reason, note, None, now)

    def hand_to_vendor(
        self,
        rules: Sequence[VendorRule],
        directory: Mapping[str, ListedVendor],
        policy: EscalationPolicy,
        *,
        reason: EscalationReason,
        note: str | None = None,
        now: datetime,
    ) -> IncidentEscalated:
        """L4: the first vendor that takes the incident (none: NoVendor, and the incident stays)."""
        rule = vendor_for(rules, self.subject, excluded=self.rejected_by, directory=directory)
        if rule is None:
            raise events.no_vendor(self, directory)
        contract = events.contract_of(rule)
        from_tier = self._enter(VENDOR_TIER, now)
        self.vendor, self.queue, self.assignee, self.ack_due_at = rule.vendor, None, None, None
        return events.escalated(self, from_tier, policy, reason, note, contract, now)

    def _enter(self, tier: str, now: datetime) -> str:
        from_tier = self.tier
        self.tier, self.tier_entered_at, self.updated_at = tier, now, now
        self.waiting_since = None
        if TIERS.index(tier) > TIERS.index(from_tier):
            self.escalations += 1
        return from_tier

    def escalation_blocked(
        self, error: TopOfLadder | NoVendor, *, reason: EscalationReason, now: datetime
    ) -> IncidentEscalationBlocked:
        """A due escalation could not happen: the incident stays, and this says why."""
        return events.blocked(self, error, reason, now)

    def turn_away(self, vendor: str) -> bool:
        """``vendor`` gives the case back, never to be offered it again; False when the vendor does
        not hold it (resolved, moved on, another vendor's) and nothing changes."""
        if not self.is_active_at(VENDOR_TIER) or self.vendor != vendor:
            return False
        self.rejected_by = sorted({*self.rejected_by, vendor})
        return True

    @staticmethod
    def return_tier(policy: EscalationPolicy) -> str:
        """Where a case the vendor gave back goes: the ladder's human rung below L4."""
        return policy.tier_below(VENDOR_TIER) or "L3"

    # --- acknowledgement --------------------------------------------------------------------------

    def acknowledge(self, now: datetime) -> None:
        self.is_acknowledged, self.ack_due_at, self.updated_at = True, None, now

    def remind(self, policy: EscalationPolicy, now: datetime) -> IncidentRenotified | None:
        """Unacknowledged past the timeout: page again while the policy's repeats last; None once
        they are spent (the timer stops, and the incident is due to escalate)."""
        if policy.ack_timeout is not None and self.renotified < policy.repeat:
            self.renotified += 1
            self.ack_due_at = now + policy.ack_timeout
            return events.renotified(self, policy, now)
        self.ack_due_at = None
        return None

    # --- resolution, reopening, edits -------------------------------------------------------------

    def release(self, now: datetime) -> str | None:
        """Resolution ends the assignment; returns the agent whose capacity it frees (if any)."""
        if not self.is_active:
            return None
        self.status, self.ack_due_at, self.waiting_since = RELEASED, None, None
        self.updated_at = now
        return self.assignee

    def reopen(self, now: datetime) -> bool:
        """The incident is open again; True when a human tier must take it again (False: it was
        not closed, or the vendor still holds the case)."""
        if self.is_active:
            return False
        self.status, self.is_acknowledged, self.updated_at = ACTIVE, False, now
        if self.tier not in HUMAN_TIERS:
            return False
        self.tier_entered_at = now
        return True

    def revise(
        self,
        *,
        priority: str,
        service: str,
        category: str,
        product: str | None,
        is_product_changed: bool,
        now: datetime,
    ) -> bool:
        """Take an edit's new fields; True when routing must look again (open, at a human tier)."""
        self.priority, self.service, self.category = priority, service, category
        if is_product_changed:
            self.product = product
        self.updated_at = now
        return self.is_active and self.tier in HUMAN_TIERS

    def adopt(self, policy: EscalationPolicy) -> str | None:
        """Run on ``policy`` from now on; returns its entry tier when that starts above the incident's."""
        self.policy = policy.name
        if TIERS.index(self.tier) < TIERS.index(policy.entry_tier):
            return policy.entry_tier
        return None

    def retime(
        self, policy: EscalationPolicy, old: EscalationPolicy, now: datetime
    ) -> IncidentAssigned | None:
        """Same queue, new policy: when its budget or timeout differ, restart the armed ack timer and
        announce the new budget; None when nothing the clocks use changed."""
        if policy.budget(self.tier) == old.budget(self.tier) and policy.ack_timeout == old.ack_timeout:
            return None
        if self.ack_due_at is not None:
            self._arm_ack(policy, now)
        return events.assigned(self, policy, "priority_change", now)
