"""The calendars and policies in force, as one snapshot read inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import SlaPolicy, Subject, calendar_named, policy_for


@dataclass(frozen=True)
class Catalog:
    """Calendars and policies (in matching order)."""

    calendars: list[Calendar]
    policies: list[SlaPolicy]

    def calendar(self, name: str | None) -> Calendar:
        return calendar_named(self.calendars, name)

    def policy(self, name: str | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def policy_for(self, subject: Subject) -> SlaPolicy:
        return policy_for(self.policies, subject)
