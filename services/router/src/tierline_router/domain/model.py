"""Tiers, queues, budgets and vendor rules — and the choices made from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_shared.config_files import Duration
from tierline_shared.errors import Conflict

TIERS = ("L1", "L2", "L3", "L4")
HUMAN_TIERS = ("L1", "L2", "L3")
Tier = Literal["L1", "L2", "L3", "L4"]
HumanTier = Literal["L1", "L2", "L3"]
Priority = Literal["P1", "P2", "P3", "P4"]


class TopOfLadder(Conflict):
    type_slug = "top-of-ladder"
    title = "The incident is already at the highest tier"


class NoVendor(Conflict):
    type_slug = "no-vendor"
    title = "No vendor is configured for this incident"


class Queue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    tier: HumanTier
    services: list[str] = Field(default_factory=list, description="Empty: any service")
    categories: list[str] = Field(default_factory=list, description="Empty: any category")
    agents: list[str] = Field(default_factory=list)

    def matches(self, service: str, category: str) -> bool:
        return (not self.services or service in self.services) and (
            not self.categories or category in self.categories
        )


class VendorRule(BaseModel):
    """A vendor takes L4 cases of any listed service or category (neither listed: any incident)."""

    model_config = ConfigDict(extra="forbid")

    vendor: str = Field(min_length=1)
    services: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    def matches(self, service: str, category: str) -> bool:
        if not self.services and not self.categories:
            return True
        return service in self.services or category in self.categories


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queues: list[Queue]
    tier_budgets: dict[Priority, dict[HumanTier, Duration]]
    vendors: list[VendorRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> RoutingPolicy:
        names = [q.name for q in self.queues]
        if len(names) != len(set(names)):
            raise ValueError("queue names must be unique")
        for tier in HUMAN_TIERS:
            if not any(q.tier == tier for q in self.queues):
                raise ValueError(f"no queue serves tier {tier}")
        for priority in ("P1", "P2", "P3", "P4"):
            budgets = self.tier_budgets.get(priority)  # type: ignore[call-overload]
            if budgets is None or set(budgets) != set(HUMAN_TIERS):
                raise ValueError(f"tier_budgets.{priority} must give a budget for L1, L2 and L3")
            if any(b <= timedelta(0) for b in budgets.values()):
                raise ValueError(f"tier_budgets.{priority}: every budget must be longer than zero")
        return self

    def queue_for(self, tier: str, service: str, category: str) -> Queue:
        """The first queue of the tier whose filters match; else the tier's first queue."""
        in_tier = [q for q in self.queues if q.tier == tier]
        return next((q for q in in_tier if q.matches(service, category)), in_tier[0])

    def budget(self, priority: str, tier: str) -> timedelta | None:
        """How long a tier may hold an incident; L4 (the vendor) runs on its contract instead."""
        if tier not in HUMAN_TIERS:
            return None
        return self.tier_budgets[priority][tier]  # type: ignore[index]

    def vendor_for(self, service: str, category: str) -> str | None:
        return next((r.vendor for r in self.vendors if r.matches(service, category)), None)


def next_tier(tier: str) -> str:
    index = TIERS.index(tier)
    if index == len(TIERS) - 1:
        raise TopOfLadder(f"The incident is at {tier}; there is no higher tier.", tier=tier)
    return TIERS[index + 1]


def round_robin(agents: Sequence[str], position: int) -> tuple[str | None, int]:
    """The agent at ``position`` (wrapping) and the next position; nobody when the queue is empty."""
    if not agents:
        return None, position
    return agents[position % len(agents)], (position + 1) % len(agents)
