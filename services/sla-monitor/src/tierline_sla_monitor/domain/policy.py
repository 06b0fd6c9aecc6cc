"""SLA policies: targets per priority (narrowed by type, service or customer), calendars, pauses, warnings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.config_files import Duration
from tierline_sla_monitor.domain.calendar import ALWAYS, TWENTY_FOUR_SEVEN, Calendar

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
IncidentType = Literal["incident", "service_request"]
TYPES: tuple[IncidentType, ...] = ("incident", "service_request")
HoldReason = Literal["awaiting_customer", "awaiting_vendor", "awaiting_change"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
# Filter dimensions whose values are all known: a filter listing every one of them matches anything.
FILTER_UNIVERSES = {"priorities": frozenset(PRIORITIES), "types": frozenset(TYPES)}


class ClockKind(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"
    TIER = "tier"
    VENDOR_RESPONSE = "vendor_response"
    VENDOR_RESOLUTION = "vendor_resolution"


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


OPEN_STATES = (ClockState.RUNNING.value, ClockState.PAUSED.value)


class Subject(BaseModel):
    """What picks an incident's policy."""

    model_config = ConfigDict(frozen=True)

    priority: Priority
    service: str
    customer: str | None = None
    type: IncidentType = "incident"


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    types: list[IncidentType] = Field(
        default_factory=list, description="incident, service_request; empty: any type"
    )
    services: list[str] = Field(default_factory=list, description="Empty: any service")
    customers: list[str] = Field(default_factory=list, description="Empty: any customer")
    response: Duration = Field(description="created -> acknowledged")
    resolution: Duration = Field(description="created -> resolved")
    calendar: Name = Field(default=TWENTY_FOUR_SEVEN, description="Which business calendar the clocks run on")
    pause_on: list[HoldReason] = Field(
        default_factory=lambda: list[HoldReason](["awaiting_customer"]),
        description="Hold reasons that pause the resolution clock",
    )
    warnings: list[float] = Field(
        default_factory=lambda: [0.75, 0.9],
        description="Fractions of the target at which sla.warning is sent",
    )

    @field_validator("warnings")
    @classmethod
    def _fractions(cls, warnings: list[float]) -> list[float]:
        if any(not 0 < w < 1 for w in warnings):
            raise ValueError("warnings are fractions of the target between 0 and 1, e.g. 0.75")
        return sorted(set(warnings))

    @field_validator("response", "resolution")
    @classmethod
    def _positive(cls, target: timedelta) -> timedelta:
        if target <= timedelta(0):
            raise ValueError("targets must be longer than zero")
        return target

    def matches(self, subject: Subject) -> bool:
        return (
            (not self.priorities or subject.priority in self.priorities)
            and (not self.types or subject.type in self.types)
            and (not self.services or subject.service in self.services)
            and (not self.customers or (subject.customer is not None and subject.customer in self.customers))
        )

    @property
    def filters(self) -> dict[str, frozenset[str]]:
        """What ``matches`` looks at, per dimension (empty: anything), to compare policies' reach."""
        return {
            "priorities": frozenset(self.priorities),
            "types": frozenset(self.types),
            "services": frozenset(self.services),
            "customers": frozenset(self.customers),
        }

    def target(self, kind: str) -> timedelta:
        return self.response if kind == ClockKind.RESPONSE else self.resolution


class SlaPolicy(PolicySpec):
    name: Name


DEFAULT_TARGETS: dict[Priority, tuple[timedelta, timedelta]] = {
    "P1": (timedelta(minutes=15), timedelta(hours=4)),
    "P2": (timedelta(minutes=30), timedelta(hours=8)),
    "P3": (timedelta(hours=4), timedelta(hours=24)),
    "P4": (timedelta(hours=8), timedelta(hours=48)),
}
DEFAULT_POLICIES = [
    SlaPolicy(name=p.lower(), priorities=[p], response=response, resolution=resolution)
    for p, (response, resolution) in DEFAULT_TARGETS.items()
]
TierName = Literal["L1", "L2", "L3"]
DEFAULT_TIER_BUDGETS: dict[TierName, timedelta] = {
    "L1": timedelta(minutes=30),
    "L2": timedelta(hours=2),
    "L3": timedelta(hours=4),
}


class SlaConfig(BaseModel):
    """The policy file: calendars, policies (first match wins) and fallback tier budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendars: list[Calendar] = Field(default_factory=list)
    policies: list[SlaPolicy] = Field(default_factory=lambda: list(DEFAULT_POLICIES))
    default_tier_budgets: dict[TierName, Duration] = Field(default_factory=lambda: dict(DEFAULT_TIER_BUDGETS))

    @model_validator(mode="after")
    def _consistent(self) -> SlaConfig:
        problem = config_problem(self.calendars, self.policies)
        if problem:
            raise ValueError(problem)
        return self

    def tier_budget(self, tier: str, announced_seconds: float | None) -> timedelta | None:
        """The router's budget when it sent one, else ours; None for L4 (vendor contract clocks)."""
        if announced_seconds is not None:
            return timedelta(seconds=announced_seconds)
        return next((b for name, b in self.default_tier_budgets.items() if name == tier), None)


def config_problem(calendars: Sequence[Calendar], policies: Sequence[SlaPolicy]) -> str | None:
    """Why some incident would have no policy or a policy no calendar, or None."""
    names = [c.name for c in calendars]
    if len(names) != len(set(names)):
        return "calendar names must be unique"
    if TWENTY_FOUR_SEVEN in names:
        return f"{TWENTY_FOUR_SEVEN!r} is built in; give your calendar another name"
    policy_names = [p.name for p in policies]
    if len(policy_names) != len(set(policy_names)):
        return "policy names must be unique"
    known = {*names, TWENTY_FOUR_SEVEN}
    for policy in policies:
        if policy.calendar not in known:
            return f"policy {policy.name!r} names an unknown calendar {policy.calendar!r}"
    for priority in PRIORITIES:
        for kind in TYPES:
            if not any(
                not p.services
                and not p.customers
                and (not p.priorities or priority in p.priorities)
                and (not p.types or kind in p.types)
                for p in policies
            ):
                return f"no policy without service or customer filters covers {priority} of type {kind}"
    return None


def policy_for(policies: Sequence[SlaPolicy], subject: Subject) -> SlaPolicy:
    return next(p for p in policies if p.matches(subject))


def calendar_named(calendars: Sequence[Calendar], name: str | None) -> Calendar:
    """The calendar by name; an unknown or deleted one falls back to 24x7 (time never stops counting)."""
    return next((c for c in calendars if c.name == name), ALWAYS)
