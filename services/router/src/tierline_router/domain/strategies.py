"""Who in a queue takes the next incident: round-robin, least-loaded or best skills match.

Every strategy first narrows the queue to eligible members — on shift, under capacity and
holding the queue's required skills — and breaks ties by the queue's rotation, which
then moves past the chosen agent so equal candidates take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from tierline_router.domain.model import Queue, Subject


@dataclass(frozen=True)
class Candidate:
    """A queue member as the strategy sees them right now."""

    name: str
    skills: frozenset[str]
    capacity: int
    load: int  # open incidents held, across every queue
    available: bool

    def is_eligible(self, required: frozenset[str]) -> bool:
        return self.available and self.load < self.capacity and required <= self.skills

    def can_keep(self, required: frozenset[str]) -> bool:
        """Eligible for an incident their load already counts: could they hold it without it?"""
        return replace(self, load=self.load - 1).is_eligible(required)


@dataclass(frozen=True)
class Pick:
    agent: str | None
    position: int  # the queue's rotation after this pick


def pick_agent(queue: Queue, members: Sequence[Candidate], position: int, subject: Subject) -> Pick:
    """Choose a member of ``queue`` for ``subject``, starting the rotation at ``position``."""
    if not members:
        return Pick(None, position)
    size = len(members)
    start = position % size
    rotation = [(offset, members[(start + offset) % size]) for offset in range(size)]
    required = frozenset(queue.skills)
    eligible = [(offset, c) for offset, c in rotation if c.is_eligible(required)]
    if not eligible:
        return Pick(None, start)
    if queue.strategy == "least_loaded":
        offset, chosen = min(
            eligible, key=lambda oc: (Fraction(oc[1].load, oc[1].capacity), oc[1].load, oc[0])
        )
    elif queue.strategy == "skills":
        wanted = subject.tags
        offset, chosen = min(
            eligible,
            key=lambda oc: (-len(wanted & oc[1].skills), Fraction(oc[1].load, oc[1].capacity), oc[0]),
        )
    else:
        offset, chosen = eligible[0]
    return Pick(chosen.name, (start + offset + 1) % size)
