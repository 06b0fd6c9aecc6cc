"""SLA targets and clock rules. 24x7 for now; business calendars will shift due times here."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from tierline_shared.config_files import Duration

Priority = Literal["P1", "P2", "P3", "P4"]


class ClockKind(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"
    TIER = "tier"


class ClockState(StrEnum):
    RUNNING = "running"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    response: Duration
    resolution: Duration


DEFAULT_TARGETS = {
    "P1": Target(response=timedelta(minutes=15), resolution=timedelta(hours=4)),
    "P2": Target(response=timedelta(minutes=30), resolution=timedelta(hours=8)),
    "P3": Target(response=timedelta(hours=4), resolution=timedelta(hours=24)),
    "P4": Target(response=timedelta(hours=8), resolution=timedelta(hours=48)),
}


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: dict[Priority, Target] = DEFAULT_TARGETS  # type: ignore[assignment]
    default_tier_budgets: dict[Literal["L1", "L2", "L3"], Duration] = {
        "L1": timedelta(minutes=30),
        "L2": timedelta(hours=2),
        "L3": timedelta(hours=4),
    }

    @model_validator(mode="after")
    def _every_priority(self) -> SlaPolicy:
        missing = {"P1", "P2", "P3", "P4"} - set(self.targets)
        if missing:
            raise ValueError(f"targets missing for {', '.join(sorted(missing))}")
        for priority, target in self.targets.items():
            if target.response <= timedelta(0) or target.resolution <= timedelta(0):
                raise ValueError(f"targets of {priority} must be positive")
        return self

    def target(self, priority: str) -> Target:
        return self.targets[priority]  # type: ignore[index]

    def tier_budget(self, tier: str, announced_seconds: float | None) -> timedelta | None:
        """The router's budget when it sent one, else ours; None for L4 (vendor contract clocks)."""
        if announced_seconds is not None:
            return timedelta(seconds=announced_seconds)
        return self.default_tier_budgets.get(tier)  # type: ignore[call-overload]


def due_at(started_at: datetime, duration: timedelta) -> datetime:
    """When a clock started at ``started_at`` runs out (24x7 calendar)."""
    return started_at + duration


def outcome_when_stopped(stopped_at: datetime, due: datetime) -> ClockState:
    return ClockState.MET if stopped_at <= due else ClockState.BREACHED
