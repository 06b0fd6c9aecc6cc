"""Tiers, agents, queues, escalation policies and vendor rules, and the choices made from them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_router.domain.schedules.model import CalendarLayer, InvalidSchedule, Layer
from tierline_router.domain.schedules.spec import ScheduleSpec
from tierline_shared.config_files import Duration
from tierline_shared.errors import Conflict

TIERS = ("L1", "L2", "L3", "L4")
HUMAN_TIERS = ("L1", "L2", "L3")
PRIORITIES = ("P1", "P2", "P3", "P4")
Tier = Literal["L1", "L2", "L3", "L4"]
HumanTier = Literal["L1", "L2", "L3"]
Priority = Literal["P1", "P2", "P3", "P4"]
Strategy = Literal["round_robin", "least_loaded", "skills"]
Handover = Literal["keep", "reassign"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Labels = list[str]
MAX_REPEAT = 10
# Filter dimensions whose values are all known: a filter listing every one of them matches anything.
FILTER_UNIVERSES = {"priorities": frozenset(PRIORITIES)}


class TopOfLadder(Conflict):
    type_slug = "top-of-ladder"
    title = "The incident is already at the highest tier"


class BottomOfLadder(Conflict):
    type_slug = "bottom-of-ladder"
    title = "There is no lower tier to hand the incident back to"


class NoVendor(Conflict):
    type_slug = "no-vendor"
    title = "No vendor is configured for this incident"


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subject(_Strict):
    """What routing decisions look at on an incident."""

    service: str
    category: str
    priority: Priority
    product: str | None = None

    @property
    def tags(self) -> frozenset[str]:
        """Labels an agent's skills are matched against."""
        return frozenset(t for t in (self.service, self.category, self.product) if t)


class AgentSpec(_Strict):
    skills: Labels = Field(default_factory=list, description="What the agent knows, e.g. network, vpn")
    capacity: int = Field(default=10, ge=1, le=1000, description="Most open incidents held at once")
    available: bool = Field(default=True, description="On shift (true) or away (false)")

    @field_validator("skills")
    @classmethod
    def _distinct(cls, skills: list[str]) -> list[str]:
        return sorted(set(skills))


class Agent(AgentSpec):
    name: Name


class QueueSpec(_Strict):
    """A tier's work queue: which incidents it takes, who works it and how they are picked."""

    tier: HumanTier
    strategy: Strategy = "round_robin"
    services: Labels = Field(default_factory=list, description="Empty: any service")
    categories: Labels = Field(default_factory=list, description="Empty: any category")
    products: Labels = Field(default_factory=list, description="Empty: any product")
    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    skills: Labels = Field(default_factory=list, description="Only agents holding all of these take work")
    agents: list[str] = Field(default_factory=list, description="Members, in round-robin order")
    schedule: Name | None = Field(
        default=None, description="On-call schedule: only its member on call now takes work (none: all)"
    )
    handover: Handover = Field(
        default="keep",
        description="At a shift change, incidents held by the outgoing person stay (keep) or move (reassign)",
    )

    @field_validator("agents")
    @classmethod
    def _no_repeats(cls, agents: list[str]) -> list[str]:
        _unique(agents, "agent")
        return agents

    def matches(self, subject: Subject) -> bool:
        return (
            (not self.services or subject.service in self.services)
            and (not self.categories or subject.category in self.categories)
            and (not self.products or subject.product in self.products)
            and (not self.priorities or subject.priority in self.priorities)
        )

    @property
    def filters(self) -> dict[str, frozenset[str]]:
        """What ``matches`` looks at, per dimension (empty: anything), to compare queues' reach."""
        return {
            "services": frozenset(self.services),
            "categories": frozenset(self.categories),
            "products": frozenset(self.products),
            "priorities": frozenset(self.priorities),
        }


class Queue(QueueSpec):
    name: Name


class Step(_Strict):
    """One rung of an escalation ladder: the tier and how long it may hold the incident."""

    tier: Tier
    budget: Duration | None = Field(
        default=None, description="Time before functional escalation; none at L4 (the vendor's contract runs)"
    )


class PolicySpec(_Strict):
    """How an incident of some services and priorities climbs the tiers."""

    services: Labels = Field(default_factory=list, description="Empty: any service")
    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    ladder: list[Step] = Field(min_length=1)
    ack_timeout: Duration | None = Field(
        default=None, description="Unacknowledged this long after assignment: re-notify, then escalate"
    )
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT, description="Re-notifications before escalating")

    @model_validator(mode="after")
    def _ordered(self) -> PolicySpec:
        tiers = [TIERS.index(s.tier) for s in self.ladder]
        if tiers != sorted(set(tiers)):
            raise ValueError("ladder tiers must climb, each tier at most once (e.g. L1, L2, L3, L4)")
        if self.ladder[0].tier not in HUMAN_TIERS:
            raise ValueError("a ladder starts at a human tier (L1, L2 or L3)")
        for step in self.ladder:
            if step.tier == "L4" and step.budget is not None:
                raise ValueError("L4 takes no budget: the vendor's contract clocks apply")
            if step.budget is not None and step.budget <= timedelta(0):
                raise ValueError(f"the {step.tier} budget must be longer than zero")
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise ValueError("ack_timeout must be longer than zero")
        return self

    def matches(self, subject: Subject) -> bool:
        return (not self.services or subject.service in self.services) and (
            not self.priorities or subject.priority in self.priorities
        )

    @property
    def filters(self) -> dict[str, frozenset[str]]:
        """What ``matches`` looks at, per dimension (empty: anything), to compare policies' reach."""
        return {"services": frozenset(self.services), "priorities": frozenset(self.priorities)}

    @property
    def entry_tier(self) -> str:
        return self.ladder[0].tier

    def budget(self, tier: str) -> timedelta | None:
        return next((s.budget for s in self.ladder if s.tier == tier), None)

    def tier_above(self, tier: str) -> str | None:
        """The ladder's next rung above ``tier``; None at its top."""
        rank = TIERS.index(tier)
        return next((s.tier for s in self.ladder if TIERS.index(s.tier) > rank), None)

    def tier_below(self, tier: str) -> str | None:
        """The ladder's human rung below ``tier``; else the next human tier down."""
        rank = TIERS.index(tier)
        below = [s.tier for s in self.ladder if TIERS.index(s.tier) < rank and s.tier in HUMAN_TIERS]
        if below:
            return below[-1]
        return TIERS[rank - 1] if rank > 0 else None


class EscalationPolicy(PolicySpec):
    name: Name


class VendorContract(_Strict):
    response: Duration | None = Field(default=None, description="Vendor must acknowledge within")
    resolution: Duration | None = Field(default=None, description="Vendor must resolve within")


class VendorRule(_Strict):
    """A vendor takes L4 cases matching any listed service, product or category (none listed: any)."""

    vendor: Name
    services: Labels = Field(default_factory=list)
    products: Labels = Field(default_factory=list)
    categories: Labels = Field(default_factory=list)
    contract: VendorContract = Field(default_factory=VendorContract)

    def matches(self, subject: Subject) -> bool:
        if not (self.services or self.products or self.categories):
            return True
        return (
            subject.service in self.services
            or subject.category in self.categories
            or (subject.product is not None and subject.product in self.products)
        )


class RoutingConfig(_Strict):
    """Everything the router decides from; checked as a whole, so no reference dangles."""

    agents: list[Agent] = Field(default_factory=list)
    queues: list[Queue]
    escalation_policies: list[EscalationPolicy]
    vendors: list[VendorRule] = Field(default_factory=list)
    schedules: list[ScheduleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        _unique((a.name for a in self.agents), "agent")
        _unique((q.name for q in self.queues), "queue")
        _unique((s.name for s in self.schedules), "schedule")
        _unique((p.name for p in self.escalation_policies), "escalation policy")
        known = {a.name for a in self.agents}
        for queue in self.queues:
            unknown = [a for a in queue.agents if a not in known]
            if unknown:
                raise ValueError(f"queue {queue.name!r} names undeclared agents: {', '.join(unknown)}")
        problem = coverage_problem(self.queues, self.escalation_policies)
        if problem:
            raise ValueError(problem)
        self._schedules_consistent()
        return self

    def _schedules_consistent(self) -> None:
        specs = {s.name: (n, s) for n, s in enumerate(self.schedules)}
        for index, queue in enumerate(self.queues):
            if queue.schedule is not None and queue.schedule not in specs:
                raise ValueError(f"queues.{index}.schedule: there is no schedule {queue.schedule!r}")
        for name, (index, spec) in specs.items():
            try:
                schedule = spec.to_domain()
            except InvalidSchedule as error:
                raise ValueError(f"schedules.{index}.{error.field}: {error.reason}") from None
            for queue in self.queues:
                if queue.schedule == name and (gap := stranger_in(schedule.layers, queue.agents)):
                    field, person = gap
                    raise ValueError(
                        f"schedules.{index}.{field}: {person!r} is not a member of queue {queue.name!r},"
                        " which names the schedule"
                    )


def stranger_in(layers: Sequence[Layer | CalendarLayer], members: Sequence[str]) -> tuple[str, str] | None:
    """The first person a schedule's layers put on call who is not in ``members``: (field, person)."""
    for index, layer in enumerate(layers):
        if isinstance(layer, CalendarLayer):
            people = [(f"layers.{index}.shifts.{n}.person", s.person) for n, s in enumerate(layer.shifts)]
        else:
            people = [(f"layers.{index}.members.{n}", person) for n, person in enumerate(layer.members)]
        for field, person in people:
            if person not in members:
                return field, person
    return None


def coverage_problem(queues: Sequence[Queue], policies: Sequence[EscalationPolicy]) -> str | None:
    """Why some incident could not be routed, or None when every one can."""
    for tier in HUMAN_TIERS:
        if not any(q.tier == tier for q in queues):
            return f"no queue serves tier {tier}"
    for priority in PRIORITIES:
        if not any(not p.services and (not p.priorities or priority in p.priorities) for p in policies):
            return f"no escalation policy without a services filter covers {priority}"
    return None


def queue_for(queues: Sequence[Queue], tier: str, subject: Subject) -> Queue:
    """The first queue of the tier whose filters match; else the tier's first queue."""
    in_tier = [q for q in queues if q.tier == tier]
    return next((q for q in in_tier if q.matches(subject)), in_tier[0])


def policy_for(policies: Sequence[EscalationPolicy], subject: Subject) -> EscalationPolicy:
    """The first policy whose filters match (coverage guarantees one)."""
    return next(p for p in policies if p.matches(subject))


class ListedVendor(_Strict):
    """A vendor as the gateway's registry describes it (the vendor.changed events)."""

    vendor: str
    products: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    contract: VendorContract = Field(default_factory=VendorContract)
    is_enabled: bool = True

    def takes(self, subject: Subject) -> bool:
        """Only what it lists: a listing without products or categories is never a catch-all."""
        return subject.category in self.categories or (
            subject.product is not None and subject.product in self.products
        )


def vendor_for(
    rules: Sequence[VendorRule],
    subject: Subject,
    excluded: Iterable[str] = (),
    directory: Mapping[str, ListedVendor] | None = None,
) -> VendorRule | None:
    """Who takes this incident at L4: the first matching rule, else a listed vendor serving it.

    Vendors that already turned the incident away, and vendors the gateway says take no
    cases (disabled, or gone), are passed over. A rule without a contract borrows the one
    the vendor's listing carries.
    """
    directory = directory or {}
    skip = set(excluded) | {name for name, listed in directory.items() if not listed.is_enabled}
    rule = next((r for r in rules if r.vendor not in skip and r.matches(subject)), None)
    if rule is not None:
        listed = directory.get(rule.vendor)
        if listed is not None and rule.contract == VendorContract():
            return rule.model_copy(update={"contract": listed.contract})
        return rule
    for listed in sorted(directory.values(), key=lambda v: v.vendor):
        if listed.vendor not in skip and listed.takes(subject):
            return VendorRule(
                vendor=listed.vendor,
                products=listed.products,
                categories=listed.categories,
                contract=listed.contract,
            )
    return None


def next_tier(tier: str) -> str:
    index = TIERS.index(tier)
    if index == len(TIERS) - 1:
        raise TopOfLadder(f"The incident is at {tier}; there is no higher tier.", tier=tier)
    return TIERS[index + 1]
