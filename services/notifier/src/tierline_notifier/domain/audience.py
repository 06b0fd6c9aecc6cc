"""Who is owed which message for an event: a pure decision over the incident and the directory.

``audience`` says who should hear of an event (the assignee, the queue's team channel, its
lead, the reporter) and what kind of message; ``owed`` turns that into one message per
contact, by each person's rules, with the delay a rule gives. Someone with no way to reach
them is owed a *skipped* message, so the notification log shows it rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Literal

from tierline_notifier.domain.directory import Contact, Person, Team, urgency_of
from tierline_notifier.domain.incident import IncidentView
from tierline_shared.events import (
    Event,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentRenotified,
    IncidentResolved,
    SlaBreached,
    SlaWarning,
    VendorCaseRejected,
    VendorDeliveryFailed,
)
from tierline_shared.events.notifications import Role

Whom = Literal["person", "team", "lead", "reporter"]
# Messages that ask an agent to act: an acknowledgement makes those not yet sent pointless.
ASKS_TO_ACT = ("assigned", "renotified", "escalated", "team_waiting")


@dataclass(frozen=True)
class Audience:
    """Someone to tell: a person (by name), a queue's team or lead (by queue), or the reporter."""

    kind: str
    role: Role
    whom: Whom
    name: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    step: int | None = None  # a renotification goes to this step of the person's rule only


@dataclass(frozen=True)
class Owed:
    """One message to one contact, ``delay`` after the event; no contact means it is skipped."""

    kind: str
    role: Role
    recipient: str
    contact: Contact | None
    delay: timedelta
    facts: Mapping[str, Any]
    skipped: str | None = None


def is_address(text: str) -> bool:
    """Whether a reporter is an email address we may write to (the sender checks it strictly)."""
    name, address = parseaddr(text)
    local, _, domain = address.partition("@")
    return bool(local and "." in domain and " " not in address and not name)


def _holder(view: IncidentView, kind: str, facts: Mapping[str, Any]) -> list[Audience]:
    """The assignee, or the queue's team while nobody holds it."""
    if view.assignee:
        return [Audience(kind, "assignee", "person", view.assignee, facts)]
    if view.queue:
        return [Audience(kind, "team", "team", view.queue, facts)]
    return []


def _lead(view: IncidentView, kind: str, facts: Mapping[str, Any]) -> list[Audience]:
    return [Audience(kind, "lead", "lead", view.queue, facts)] if view.queue else []


def audience(event: Event, before: IncidentView, after: IncidentView) -> list[Audience]:
    """Who hears of ``event``, given the incident before and after it."""
    told = _told(event, before, after)
    if after.status in ("resolved", "closed"):
        told = [a for a in told if a.whom == "reporter"]  # agents' news about finished work is stale
    if after.priority == "P1" and after.queue and not after.p1_announced and after.status != "closed":
        told.append(Audience("p1_created", "team", "team", after.queue))
    return told


def _told(event: Event, before: IncidentView, after: IncidentView) -> list[Audience]:
    facts: dict[str, Any]
    match event:
        case IncidentCreated() if is_address(event.reporter):
            return [Audience("reporter_created", "reporter", "reporter", event.reporter)]
        case IncidentResolved() if is_address(after.reporter):
            facts = {"resolution_code": event.resolution_code, "note": event.note}
            return [Audience("reporter_resolved", "reporter", "reporter", after.reporter, facts)]
        case IncidentAssigned() if (event.queue, event.assignee) != (before.queue, before.assignee):
            if event.assignee:
                return [Audience("assigned", "assignee", "person", event.assignee, {"reason": event.reason})]
            return [Audience("team_waiting", "team", "team", event.queue, {"reason": event.reason})]
        case IncidentRenotified():
            facts = {"attempt": event.attempt, "of": event.of}
            if event.assignee:
                return [
                    Audience("renotified", "assignee", "person", event.assignee, facts, step=event.attempt)
                ]
            return [Audience("renotified", "team", "team", event.queue, facts)] if event.queue else []
        case IncidentEscalated():
            return _escalated(event, before)
        case SlaWarning():
            facts = {
                "clock": event.clock,
                "threshold": event.threshold,
                "remaining_seconds": event.remaining_seconds,
                "due_at": event.due_at.isoformat(),
                "last": event.last,
            }
            return _holder(after, "sla_warning", facts) + (
                _lead(after, "sla_warning", facts) if event.last else []
            )
        case SlaBreached():
            facts = {"clock": event.clock, "due_at": event.due_at.isoformat()}
            return _holder(after, "sla_breached", facts) + _lead(after, "sla_breached", facts)
        case VendorDeliveryFailed() | VendorCaseRejected():
            return _vendor_trouble(event, after)
    return []


def _escalated(event: IncidentEscalated, before: IncidentView) -> list[Audience]:
    facts = {
        "from_tier": event.from_tier,
        "to_tier": event.to_tier,
        "reason": event.reason,
        "note": event.note,
        "direction": event.direction,
        "vendor": event.vendor,
    }
    told = []
    if event.assignee:
        told.append(Audience("escalated", "assignee", "person", event.assignee, facts))
    elif event.queue and event.to_tier != "L4":
        told.append(Audience("escalated", "team", "team", event.queue, facts))
    if before.assignee and before.assignee != event.assignee:
        told.append(Audience("escalated_fyi", "previous_assignee", "person", before.assignee, facts))
    return told


def _vendor_trouble(event: VendorDeliveryFailed | VendorCaseRejected, view: IncidentView) -> list[Audience]:
    queue = view.queues.get("L3")
    if queue is None:
        return []
    if isinstance(event, VendorDeliveryFailed):
        facts = {"vendor": event.vendor, "what": "delivery_failed", "detail": event.last_error}
    else:
        facts = {"vendor": event.vendor, "what": "case_rejected", "detail": event.reason or ""}
    return [Audience("vendor_trouble", "team", "team", queue, facts)]


def people_needed(told: list[Audience], teams: Mapping[str, Team]) -> set[str]:
    """The people to look up: those named, and the leads of the teams asked for."""
    names = {a.name for a in told if a.whom == "person"}
    names |= {lead for a in told if a.whom == "lead" and (lead := _lead_of(teams, a.name))}
    return names


def _lead_of(teams: Mapping[str, Team], queue: str) -> str | None:
    team = teams.get(queue)
    return team.lead if team else None


def owed(
    told: list[Audience], priority: str, people: Mapping[str, Person], teams: Mapping[str, Team]
) -> list[Owed]:
    """One message per contact of everyone told (a skipped one where there is no contact)."""
    urgency = urgency_of(priority)
    messages: list[Owed] = []
    for a in told:
        if a.whom == "reporter":
            reporter = Contact(name="email", type="email", address=a.name)
            messages.append(Owed(a.kind, a.role, a.name, reporter, timedelta(0), a.facts))
        elif a.whom == "team":
            team = teams.get(a.name)
            if team is None or not team.channels:
                messages.append(_skip(a, a.name, f"queue {a.name} has no team channel"))
            else:
                messages += [Owed(a.kind, a.role, a.name, c, timedelta(0), a.facts) for c in team.channels]
        else:
            name = a.name if a.whom == "person" else _lead_of(teams, a.name)
            if name is None:
                continue  # a queue without a lead: nobody to escalate to, and no one expects it
            messages += _to_person(a, name, people.get(name), urgency)
    return _once(messages)


def _once(messages: list[Owed]) -> list[Owed]:
    """Each person's contact once per event (the assignee who is also the lead hears it as assignee)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for m in messages:
        if m.role not in ("team", "reporter") and m.contact is not None:
            key = (m.recipient, m.contact.name)
            if key in seen:
                continue
            seen.add(key)
        kept.append(m)
    return kept


def _to_person(a: Audience, name: str, person: Person | None, urgency: Literal["high", "low"]) -> list[Owed]:
    if person is None:
        return [_skip(a, name, f"{name} is not in the notification directory")]
    if not person.contacts:
        return [_skip(a, name, f"{name} has no contacts")]
    steps = person.steps(a.kind, urgency)
    if not steps:
        return [_skip(a, name, f"no rule of {name}'s sends {a.kind} at {urgency} urgency")]
    if a.step is not None:  # a renotification: the next contact in the rule, at once
        steps = [(steps[min(a.step, len(steps) - 1)][0], timedelta(0))]
    return [Owed(a.kind, a.role, name, contact, delay, a.facts) for contact, delay in steps]


def _skip(a: Audience, recipient: str, why: str) -> Owed:
    return Owed(a.kind, a.role, recipient, None, timedelta(0), a.facts, skipped=why)
