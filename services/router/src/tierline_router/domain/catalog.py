"""The routing configuration as one snapshot, and what routing reads from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from tierline_router.domain.model import Agent, EscalationPolicy, Queue, Subject, policy_for
from tierline_router.domain.schedules import Schedule, oncall
from tierline_router.domain.strategies import Candidate


@dataclass(frozen=True)
class Catalog:
    """The routing configuration as one consistent snapshot, read inside the caller's transaction.

    Shared by every transaction while the configuration's version holds: never changed in place.
    """

    agents: Mapping[str, Agent]
    queues: Sequence[Queue]  # by tier, then rank
    policies: Sequence[EscalationPolicy]  # by rank
    schedules: Mapping[str, Schedule] = field(default_factory=dict)  # with their overrides

    def __post_init__(self) -> None:
        # read-only containers of frozen models: whoever holds the snapshot cannot change it
        object.__setattr__(self, "agents", MappingProxyType(dict(self.agents)))
        object.__setattr__(self, "schedules", MappingProxyType(dict(self.schedules)))
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "policies", tuple(self.policies))

    def queue(self, name: str | None) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    def policy(self, name: str | None) -> EscalationPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def policy_of(self, name: str | None, subject: Subject) -> EscalationPolicy:
        """The policy an incident runs on; if that one was deleted, the one that matches it now."""
        return self.policy(name) or policy_for(self.policies, subject)

    def queues_of(self, agent: str) -> list[Queue]:
        """The queues ``agent`` works, in match order."""
        return [q for q in self.queues if agent in q.agents]

    def queues_naming(self, schedule: str) -> list[Queue]:
        """The queues whose on-call schedule is ``schedule``, in match order."""
        return [q for q in self.queues if q.schedule == schedule]

    def oncall(self, queue: Queue, now: datetime) -> str | None:
        """Who is on call for ``queue`` at ``now`` by its schedule (None: no schedule, or nobody)."""
        schedule = self.schedules.get(queue.schedule) if queue.schedule is not None else None
        return None if schedule is None else oncall(schedule, now)

    def candidates(self, queue: Queue, held: Mapping[str, int], now: datetime | None) -> list[Candidate]:
        """The queue's members as a strategy sees them, given how many open incidents each holds.

        A queue with a schedule offers only its member on call at ``now`` (nobody when the
        schedule has nobody, or someone outside the queue); only a queue without one may leave
        ``now`` unsaid.
        """
        names = queue.agents
        if queue.schedule is not None:
            if now is None:
                raise ValueError(f"queue {queue.name!r} follows a schedule: who is on call needs the time")
            person = self.oncall(queue, now)
            names = [name for name in names if name == person]
        members = [self.agents[name] for name in names if name in self.agents]
        return [
            Candidate(
                name=a.name,
                skills=frozenset(a.skills),
                capacity=a.capacity,
                load=held.get(a.name, 0),
                available=a.available,
            )
            for a in members
        ]
