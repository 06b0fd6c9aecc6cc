"""The routing configuration as one snapshot, and what routing reads from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from tierline_router.domain.model import Agent, EscalationPolicy, Queue, Subject, policy_for
from tierline_router.domain.strategies import Candidate


@dataclass(frozen=True)
class Catalog:
    """The routing configuration as one consistent snapshot, read inside the caller's transaction.

    Shared by every transaction while the configuration's version holds: never changed in place.
    """

    agents: Mapping[str, Agent]
    queues: Sequence[Queue]  # by tier, then rank
    policies: Sequence[EscalationPolicy]  # by rank

    def __post_init__(self) -> None:
        # read-only containers of frozen models: whoever holds the snapshot cannot change it
        object.__setattr__(self, "agents", MappingProxyType(dict(self.agents)))
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

    def candidates(self, queue: Queue, held: Mapping[str, int]) -> list[Candidate]:
        """The queue's members as a strategy sees them, given how many open incidents each holds."""
        members = [self.agents[name] for name in queue.agents if name in self.agents]
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
