"""The facts the KPI reports count, derived from an incident and its whole timeline.

Pure: :func:`derive` takes the incident as its row says it now and every line of its timeline
(any order; it sorts them by time, then by ``seq``) and returns one :class:`Facts` with the
:class:`Stint` list — what ``incident_facts`` and ``incident_stints`` hold. Deriving from the
whole timeline each time makes the result independent of the order events arrived in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tierline_intake.domain import holding

LIVE_CHANNELS = frozenset({"phone", "chat"})
RESOLVED_STATUSES = frozenset({"resolved", "closed"})
HANDLED = frozenset({"resolved", "escalated", "de_escalated"})  # ends that count as handle time
OUTCOMES = frozenset({"sla_met", "sla_breached"})


@dataclass(frozen=True)
class FirstContactWindows:
    """How soon a resolution counts as on first contact (FCR).

    ``live`` for phone and chat (wall clock); ``other`` for email, web, api and monitoring, in
    business time of the incident's resolution SLA clock when the SLA monitor reported it
    (``sla_met.elapsed_seconds``), else wall clock.
    """

    live: timedelta = timedelta(minutes=15)
    other: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class IncidentState:
    """The incident's row now: what the facts copy as dimensions."""

    id: uuid.UUID
    created_at: datetime
    service: str
    category: str
    priority: str
    channel: str
    type: str
    status: str
    tier: str | None
    queue: str | None
    assignee: str | None
    vendor: str | None
    resolved_at: datetime | None
    reopen_count: int
    csat_score: int | None
    knowledge_article_used: str | None


@dataclass(frozen=True)
class TimelineLine:
    """One line of the timeline: its kind, time, order of writing and data (the event's fields)."""

    kind: str
    at: datetime
    seq: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stint:
    """A span one tier, queue and agent (None: nobody, it waited) held the incident."""

    n: int
    tier: str
    queue: str | None
    agent: str | None
    vendor: str | None
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None  # escalated | de_escalated | reassigned | resolved
    hold_seconds: float
    handle_seconds: float | None


@dataclass(frozen=True)
class Facts:
    incident_id: uuid.UUID
    created_at: datetime
    service: str
    category: str
    priority: str
    channel: str
    type: str
    status: str
    tier: str | None
    queue: str | None
    agent: str | None
    vendor: str | None
    first_ack_at: datetime | None
    resolved_at: datetime | None
    reopen_count: int
    reassignments: int
    l1_only: bool
    first_contact: bool | None
    knowledge_linked: bool
    csat_score: int | None
    tiers_held: list[str]
    escalated_from: list[str]
    hold_seconds: float
    handled_seconds: float  # the sum of its stints' handle times (AHT over incidents: sum / count)
    handled_stints: int  # how many stints have one
    response_met: bool | None
    resolution_met: bool | None
    breached: bool
    vendor_handoff_at: datetime | None
    vendor_ack_at: datetime | None
    vendor_resolved_at: datetime | None
    vendor_rejected: bool
    vendor_failed: bool
    vendor_response_met: bool | None
    vendor_resolution_met: bool | None
    stints: list[Stint]


def derive(
    incident: IncidentState, lines: Sequence[TimelineLine], windows: FirstContactWindows, *, now: datetime
) -> Facts:
    """The incident's facts as of ``now`` (a hold or stint still open counts up to it)."""
    ordered = sorted(lines, key=lambda line: (line.at, line.seq))
    held, escalated_from = holding.spells(ordered)
    holds = holding.hold_spans(ordered, now)
    stints = [_stint(n, spell, holds, now) for n, spell in enumerate(held, start=1)]
    resolved_at = incident.resolved_at if incident.status in RESOLVED_STATUSES else None
    outcome = _Outcomes(ordered)
    handled = [stint.handle_seconds for stint in stints if stint.handle_seconds is not None]
    return Facts(
        incident_id=incident.id,
        created_at=incident.created_at,
        service=incident.service,
        category=incident.category,
        priority=incident.priority,
        channel=incident.channel,
        type=incident.type,
        status=incident.status,
        tier=incident.tier,
        queue=incident.queue,
        agent=incident.assignee if incident.assignee is not None else _last_agent(stints),
        vendor=incident.vendor,
        first_ack_at=_first_at(ordered, "acknowledged"),
        resolved_at=resolved_at,
        reopen_count=incident.reopen_count,
        reassignments=sum(1 for stint in stints if stint.ended_by == "reassigned"),
        l1_only=all(stint.tier == "L1" for stint in stints),
        first_contact=_first_contact(incident, resolved_at, ordered, windows),
        knowledge_linked=resolved_at is not None and incident.knowledge_article_used is not None,
        csat_score=incident.csat_score,
        tiers_held=list(dict.fromkeys(stint.tier for stint in stints)),
        escalated_from=escalated_from,
        hold_seconds=sum(span.seconds for span in holds),
        handled_seconds=sum(handled),
        handled_stints=len(handled),
        response_met=outcome.met("response"),
        resolution_met=outcome.met("resolution"),
        breached=outcome.breached("response") or outcome.breached("resolution"),
        vendor_handoff_at=_first_at(ordered, "vendor_case_opened"),
        vendor_ack_at=_first_at(ordered, "vendor_case_acknowledged"),
        vendor_resolved_at=_first_at(ordered, "vendor_case_resolved"),
        vendor_rejected=_first_at(ordered, "vendor_case_rejected") is not None,
        vendor_failed=_first_at(ordered, "vendor_delivery_failed") is not None,
        vendor_response_met=outcome.met("vendor_response"),
        vendor_resolution_met=outcome.met("vendor_resolution"),
        stints=stints,
    )


# -- stints: who held it, how long on hold, how long handled ---------------------------------


def _stint(n: int, spell: holding.Spell, holds: Sequence[holding.Span], now: datetime) -> Stint:
    """``spell`` measured: its time on hold and, once an agent finished with it, its handle time."""
    end = spell.ended_at if spell.ended_at is not None else max(now, spell.started_at)
    on_hold = sum(span.overlap(spell.started_at, end) for span in holds)
    handled = spell.agent is not None and spell.ended_at is not None and spell.ended_by in HANDLED
    return Stint(
        n=n,
        tier=spell.tier,
        queue=spell.queue,
        agent=spell.agent,
        vendor=spell.vendor,
        started_at=spell.started_at,
        ended_at=spell.ended_at,
        ended_by=spell.ended_by,
        hold_seconds=on_hold,
        handle_seconds=(end - spell.started_at).total_seconds() - on_hold if handled else None,
    )


def _last_agent(stints: Sequence[Stint]) -> str | None:
    """Who held it last (nobody holds it now: it waits, or it was resolved)."""
    return next((stint.agent for stint in reversed(stints) if stint.agent is not None), None)


# -- first contact ---------------------------------------------------------------------------


def _first_contact(
    incident: IncidentState,
    resolved_at: datetime | None,
    ordered: Sequence[TimelineLine],
    windows: FirstContactWindows,
) -> bool | None:
    """Resolved within the channel's window: live wall clock; else the resolution clock's business
    seconds when the SLA monitor counted them, wall clock otherwise. None: not resolved."""
    if resolved_at is None:
        return None
    wall = resolved_at - incident.created_at
    if incident.channel in LIVE_CHANNELS:
        return wall <= windows.live
    elapsed = _business_seconds(ordered)
    if elapsed is not None:
        return elapsed <= windows.other.total_seconds()
    return wall <= windows.other


def _business_seconds(ordered: Sequence[TimelineLine]) -> float | None:
    """``elapsed_seconds`` of the latest ``sla_met`` of the resolution clock that carries it."""
    for line in reversed(ordered):
        if line.kind == "sla_met" and line.data.get("clock") == "resolution":
            elapsed = line.data.get("elapsed_seconds")
            if isinstance(elapsed, int | float) and not isinstance(elapsed, bool):
                return float(elapsed)
    return None


# -- SLA outcomes and the vendor -------------------------------------------------------------


class _Outcomes:
    """Each clock's latest outcome (met or breached) and whether it ever breached."""

    def __init__(self, ordered: Sequence[TimelineLine]) -> None:
        self._latest: dict[str, bool] = {}
        self._breached: set[str] = set()
        for line in ordered:
            clock = line.data.get("clock")
            if line.kind not in OUTCOMES or not isinstance(clock, str):
                continue
            self._latest[clock] = line.kind == "sla_met"
            if line.kind == "sla_breached":
                self._breached.add(clock)

    def met(self, clock: str) -> bool | None:
        return self._latest.get(clock)

    def breached(self, clock: str) -> bool:
        return clock in self._breached


def _first_at(ordered: Sequence[TimelineLine], kind: str) -> datetime | None:
    return next((line.at for line in ordered if line.kind == kind), None)
