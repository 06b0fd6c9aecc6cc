"""Who held an incident and when it stood on hold, read from its timeline (pure, no I/O).

The walk behind :func:`tierline_intake.domain.facts.derive`: :func:`spells` turns the router's
``assigned`` / ``escalated`` / ``de_escalated`` lines and intake's ``resolved`` / ``reopened``
into the spans one tier, queue and agent held the incident; :func:`hold_spans` turns
``on_hold`` and what ends it into spans. The facts measure both (hold and handle seconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

HOLD_ENDS = frozenset({"resumed", "resolved", "closed"})
MOVES = frozenset({"escalated", "de_escalated"})


class Line(Protocol):
    """What the walk reads of a timeline line (``facts.TimelineLine`` is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Spell:
    """One tier, queue and agent (None: it waited in the queue) held the incident from ``started_at``.

    ``ended_at`` None: it holds it still. ``ended_by``: escalated, de_escalated, reassigned,
    resolved, or None when it just moved on (taken from the queue, rerouted, another tier).
    """

    tier: str
    queue: str | None
    agent: str | None
    vendor: str | None
    started_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)

    def overlap(self, start: datetime, end: datetime) -> float:
        """Seconds this span shares with ``[start, end)``."""
        return max((min(self.end, end) - max(self.start, start)).total_seconds(), 0.0)


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _same_holder(spell: Spell, tier: str, queue: str | None, agent: str | None) -> bool:
    return (spell.tier, spell.queue, spell.agent) == (tier, queue, agent)


class _Walk:
    """The spells so far and the one open now; a resolution leaves none open until a reopen."""

    def __init__(self) -> None:
        self.done: list[Spell] = []
        self.open: Spell | None = None
        self.resolved = False
        self.escalated_from: list[str] = []

    def end(self, at: datetime, by: str | None) -> None:
        if self.open is not None:
            self.done.append(replace(self.open, ended_at=at, ended_by=by))
            self.open = None

    def held(self) -> list[str]:
        spells = [*self.done, *([self.open] if self.open else [])]
        return [spell.tier for spell in spells]

    def assigned(self, line: Line) -> None:
        tier = _text(line.data, "tier")
        if tier is None:
            return
        queue, agent = _text(line.data, "queue"), _text(line.data, "assignee")
        current = self.open
        if current is not None and _same_holder(current, tier, queue, agent):
            return
        vendor = None
        by = None
        if current is not None:
            # The vendor only ever comes with an escalation to L4; a move inside L4 keeps it.
            vendor = current.vendor if tier == current.tier == "L4" else None
            # An agent lost it to someone else (or back to the queue) without leaving the tier.
            if current.agent is not None and current.tier == tier and current.agent != agent:
                by = "reassigned"
        self.end(line.at, by)
        self.open = Spell(tier, queue, agent, vendor, line.at)

    def moved(self, line: Line) -> None:
        tier = _text(line.data, "to_tier")
        if tier is None:
            return
        from_tier = _text(line.data, "from_tier")
        up = line.kind == "escalated" and line.data.get("direction", "up") == "up"
        # Only out of a tier it held: escalated out of T never outnumbers held by T.
        out_of = from_tier if from_tier in self.held() else None
        if up and out_of is not None and out_of not in self.escalated_from:
            self.escalated_from.append(out_of)
        self.end(line.at, line.kind)
        vendor = _text(line.data, "vendor") if tier == "L4" else None
        self.open = Spell(tier, _text(line.data, "queue"), _text(line.data, "assignee"), vendor, line.at)


def spells(ordered: Iterable[Line]) -> tuple[list[Spell], list[str]]:
    """The spells in order and the tiers escalated up out of (distinct, first time first).

    ``ordered``: the timeline by (at, seq). Between a resolution and a reopen nobody holds the
    incident, so a late assignment or escalation of the router is not a spell.
    """
    walk = _Walk()
    for line in ordered:
        if line.kind == "resolved":
            walk.end(line.at, "resolved")
            walk.resolved = True
        elif line.kind == "reopened":
            walk.resolved = False
        elif walk.resolved:
            continue
        elif line.kind == "assigned":
            walk.assigned(line)
        elif line.kind in MOVES:
            walk.moved(line)
    found = [*walk.done, *([walk.open] if walk.open else [])]
    return found, walk.escalated_from


def hold_spans(ordered: Sequence[Line], now: datetime) -> list[Span]:
    """``on_hold`` until ``resumed``, ``resolved`` or ``closed`` (still on hold: until ``now``)."""
    spans: list[Span] = []
    since: datetime | None = None
    for line in ordered:
        if line.kind == "on_hold" and since is None:
            since = line.at
        elif line.kind in HOLD_ENDS and since is not None:
            spans.append(Span(since, line.at))
            since = None
    if since is not None:
        spans.append(Span(since, max(now, since)))
    return spans
