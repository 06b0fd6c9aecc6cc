"""What the SLA monitor knows of an incident: what picks its policy, which tier holds it, hold and close.

Events about one incident may arrive in any order, so an incident is known (empty) from the
first event about it; once closed, no new clock starts for it until it reopens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.policy import SlaPolicy, Subject


@dataclass
class Incident:
    incident_id: uuid.UUID
    priority: str | None = None
    service: str | None = None
    customer: str | None = None
    type: str | None = None  # None (not yet known, or before types existed): an incident
    policy: str | None = None  # the policy its clocks last started or re-targeted under
    tier: str | None = None
    hold_reason: str | None = None
    closed_at: datetime | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def subject(self) -> Subject:
        return Subject.model_validate(
            {
                "priority": self.priority or "P4",
                "service": self.service or "",
                "customer": self.customer,
                "type": self.type or "incident",
            }
        )

    def current_policy(self, catalog: Catalog) -> SlaPolicy:
        """The policy its clocks run under (or, when that one is gone, the one it matches now)."""
        return catalog.policy(self.policy) or catalog.policy_for(self.subject)

    def pauses_under(self, policy: SlaPolicy) -> bool:
        """On hold for a reason ``policy`` pauses clocks on."""
        return self.hold_reason is not None and self.hold_reason in policy.pause_on

    def created(
        self, *, priority: str, service: str, customer: str | None, type: str, catalog: Catalog
    ) -> SlaPolicy:
        """Created: what it is picks its policy (returned)."""
        self.priority, self.service, self.customer, self.type = priority, service, customer, type
        return self._match(catalog)

    def reclassify(
        self, *, priority: str, service: str, catalog: Catalog, type: str | None = None
    ) -> SlaPolicy:
        """A new priority, service or type (None: the one known stays): the policy is chosen again."""
        self.priority, self.service = priority, service
        self.type = type or self.type
        return self._match(catalog)

    def _match(self, catalog: Catalog) -> SlaPolicy:
        policy = catalog.policy_for(self.subject)
        self.policy = policy.name
        return policy

    def moved_to(self, tier: str) -> None:
        self.tier = tier

    def hold(self, reason: str) -> None:
        self.hold_reason = reason

    def release(self) -> None:
        self.hold_reason = None

    def close(self, at: datetime) -> None:
        """Resolved: resolving from on hold ends the hold too (no resume follows)."""
        self.closed_at = self.closed_at or at
        self.hold_reason = None

    def reopen(self, priority: str) -> None:
        self.closed_at, self.priority = None, priority
