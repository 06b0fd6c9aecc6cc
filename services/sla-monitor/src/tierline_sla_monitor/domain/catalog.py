"""The calendars and policies in force, as one snapshot read inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import SlaPolicy, Subject, calendar_named, policy_for


@dataclass(frozen=True)
class Catalog:
    """Calendars and policies (in matching order).

    Shared by every transaction while the catalog's version holds: never changed in place.
    """

    calendars: Sequence[Calendar]
    policies: Sequence[SlaPolicy]

    def __post_init__(self) -> None:
        # tuples of frozen models: whoever holds the snapshot cannot change it
        object.__setattr__(self, "calendars", tuple(self.calendars))
        object.__setattr__(self, "policies", tuple(self.policies))

    def calendar(self, name: str | None) -> Calendar:
        return calendar_named(self.calendars, name)

    def policy(self, name: str | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def policy_for(self, subject: Subject) -> SlaPolicy:
        return policy_for(self.policies, subject)
