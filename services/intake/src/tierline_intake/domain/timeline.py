"""What each event another service sends us puts on the incident's timeline: kind, time, summary.

One pure function per event type (router, SLA monitor, vendor gateway, notifier), told to :func:`_tells`
as the kind of line and how the event gives its time and summary; :func:`line` picks it.
The event's own data goes with the line (the service layer adds it); only the words are here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tierline_shared.events import IncidentEvent, notifications, routing, sla, vendor

E = TypeVar("E", bound=IncidentEvent)


@dataclass(frozen=True)
class Line:
    """One line of an incident's timeline, as another service's event tells it."""

    kind: str
    at: datetime
    summary: str


_LINES: dict[type[IncidentEvent], Callable[[Any], Line]] = {}


def _tells(event_type: type[E], kind: str, told: Callable[[E], tuple[datetime, str]]) -> None:
    """``event_type`` puts a line of ``kind`` on the timeline; ``told`` gives its time and summary."""
    _LINES[event_type] = lambda event: Line(kind, *told(event))


def line(event: IncidentEvent, *, clock_tier: str | None = None) -> Line:
    """The line ``event`` puts on its incident's timeline.

    ``clock_tier``: for a paused or resumed clock, the tier of the clock as intake's view holds
    it (those events do not carry one).
    """
    if isinstance(event, sla.SlaClockPaused):
        return clock_paused(event, clock_tier)
    if isinstance(event, sla.SlaClockResumed):
        return clock_resumed(event, clock_tier)
    tell = _LINES.get(type(event))
    if tell is None:
        raise TypeError(f"No timeline line for {type(event).__name__}")
    return tell(event)


def _suffix(text: str | None, lead: str) -> str:
    return f"{lead}{text}" if text else ""


# -- the router ------------------------------------------------------------------------------

# How a queue or agent came to hold the incident; a reason newer than this code reads as "routed".
_ASSIGNED_TO = {
    "routed": "Assigned to {who} in {where}",
    "reassigned": "Reassigned to {who} in {where}",
    "rerouted": "Rerouted to {who} in {where}",
    "dequeued": "Taken from queue {where} by {who}",
    "reopened": "Reopened and assigned to {who} in {where}",
    "priority_change": "Priority changed; assigned to {who} in {where}",
}
_WAITING_BECAUSE = {
    "reassigned": "Back in the queue",
    "rerouted": "Rerouted",
    "reopened": "Reopened",
    "priority_change": "Priority changed",
}


def _assignment(event: routing.IncidentAssigned) -> str:
    where = f"{event.queue} ({event.tier})"
    if event.assignee is None:
        lead = _WAITING_BECAUSE.get(event.reason)
        waiting = f"in queue {where} for a free agent"
        return f"{lead}: waiting {waiting}" if lead else f"Waiting {waiting}"
    template = _ASSIGNED_TO.get(event.reason, _ASSIGNED_TO["routed"])
    return template.format(who=event.assignee, where=where)


def _holder(event: routing.IncidentEscalated) -> str:
    if event.to_tier == "L4" and event.vendor:
        return f"vendor {event.vendor}"
    if event.assignee:
        return f"{event.assignee} in {event.queue}" if event.queue else event.assignee
    if event.queue:
        return f"queue {event.queue} (waiting for a free agent)"
    return "nobody yet"


def escalated(event: routing.IncidentEscalated) -> Line:
    """Up (escalated) or down (de-escalated: handed back)."""
    move = f"{event.from_tier} -> {event.to_tier} ({event.reason})"
    note = _suffix(event.note, ": ")
    if event.direction == "down":
        summary = f"De-escalated {move}, handed back to {_holder(event)}{note}"
        return Line("de_escalated", event.escalated_at, summary)
    return Line("escalated", event.escalated_at, f"Escalated {move} to {_holder(event)}{note}")


def _renotified(event: routing.IncidentRenotified) -> str:
    """What the router decided, not who heard of it: the notifier's own events say that."""
    holder = event.assignee or (f"queue {event.queue}" if event.queue else None)
    held = f" ({holder})" if holder else ""
    return (
        f"No acknowledgement within the timeout at {event.tier}{held}; renotify {event.attempt} of {event.of}"
    )


_tells(routing.IncidentAssigned, "assigned", lambda e: (e.assigned_at, _assignment(e)))
_LINES[routing.IncidentEscalated] = escalated
_tells(
    routing.IncidentEscalationBlocked,
    "escalation_blocked",
    lambda e: (e.at, f"Escalation ({e.reason}) blocked at {e.tier}: {e.detail}"),
)
_tells(routing.IncidentRenotified, "renotified", lambda e: (e.at, _renotified(e)))


# -- the SLA monitor -------------------------------------------------------------------------


def _clock_label(clock: str, tier: str | None) -> str:
    """``resolution``, ``tier (L2)``, ``vendor response``: the clock as a sentence names it."""
    name = clock.replace("_", " ")
    return f"{name} ({tier})" if clock == "tier" and tier else name


def _title(clock: str, tier: str | None) -> str:
    label = _clock_label(clock, tier)
    return label[0].upper() + label[1:]


def span(seconds: float) -> str:
    """Business time as people say it: 45s, 10m, 1h, 3h10m, 2d4h (whole minutes, rounded down)."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{max(int(seconds), 0)}s"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n)


def _warning(event: sla.SlaWarning) -> str:
    share = f"{round(event.threshold * 100, 1):g} %"
    left, due = span(event.remaining_seconds), event.due_at.isoformat()
    return f"{_title(event.clock, event.tier)} SLA at {share}: {left} left (due {due})"


_tells(
    sla.SlaClockStarted,
    "sla_clock_started",
    lambda e: (e.started_at, f"SLA {_clock_label(e.clock, e.tier)} clock due {e.due_at.isoformat()}"),
)
_tells(
    sla.SlaBreached,
    "sla_breached",
    lambda e: (e.breached_at, f"SLA {_clock_label(e.clock, e.tier)} breached"),
)
_tells(sla.SlaMet, "sla_met", lambda e: (e.met_at, f"SLA {_clock_label(e.clock, e.tier)} met"))
_tells(
    sla.SlaRecalculated,
    "sla_recalculated",
    lambda e: (e.at, f"SLA {_clock_label(e.clock, e.tier)} now due {e.due_at.isoformat()}"),
)
_tells(sla.SlaWarning, "sla_warning", lambda e: (e.at, _warning(e)))


def clock_paused(event: sla.SlaClockPaused, tier: str | None) -> Line:
    """``tier``: the paused clock's, as intake's view holds it."""
    left = span(event.remaining_seconds)
    return Line(
        "sla_clock_paused",
        event.at,
        f"{_title(event.clock, tier)} clock paused ({event.reason}), {left} left",
    )


def clock_resumed(event: sla.SlaClockResumed, tier: str | None) -> Line:
    """``tier``: the resumed clock's, as intake's view holds it."""
    due = event.due_at.isoformat()
    return Line("sla_clock_resumed", event.at, f"{_title(event.clock, tier)} clock resumed, due {due}")


# -- the vendor gateway ----------------------------------------------------------------------


def _case_opened(event: vendor.VendorCaseOpened) -> str:
    ref = f" (reference {event.vendor_reference})" if event.vendor_reference else ""
    return f"Case handed to vendor {event.vendor}{ref}"


def _case_acknowledged(event: vendor.VendorCaseAcknowledged) -> str:
    ref = _suffix(event.vendor_reference, " as ")
    return f"Vendor {event.vendor} took the case on{ref}" + _suffix(event.note, " - ")


_tells(vendor.VendorCaseOpened, "vendor_case_opened", lambda e: (e.opened_at, _case_opened(e)))
_tells(
    vendor.VendorCaseUpdated,
    "vendor_case_updated",
    lambda e: (e.updated_at, f"Vendor {e.vendor}: {e.status}" + _suffix(e.note, " - ")),
)
_tells(
    vendor.VendorCaseAcknowledged,
    "vendor_case_acknowledged",
    lambda e: (e.acknowledged_at, _case_acknowledged(e)),
)
_tells(
    vendor.VendorCaseRejected,
    "vendor_case_rejected",
    lambda e: (e.rejected_at, f"Vendor {e.vendor} rejected the case" + _suffix(e.reason, ": ")),
)
_tells(
    vendor.VendorEndpointDisabled,
    "vendor_endpoint_disabled",
    lambda e: (
        e.disabled_at,
        f"Vendor {e.vendor}'s webhook answered 410 Gone; deliveries to it are disabled",
    ),
)
_tells(
    vendor.VendorCaseResolved,
    "vendor_case_resolved",
    lambda e: (e.resolved_at, f"Vendor {e.vendor} resolved the case" + _suffix(e.resolution, ": ")),
)
_tells(
    vendor.VendorDeliveryFailed,
    "vendor_delivery_failed",
    lambda e: (e.failed_at, f"Handoff to {e.vendor} failed after {e.attempts} attempts: {e.last_error}"),
)


# -- the notifier ----------------------------------------------------------------------------


def _recipient(role: str, recipient: str) -> str:
    """Who was (or was not) told, as a sentence names them: why they hear of it, by their role."""
    match role:
        case "team":
            return f"the team of queue {recipient}"
        case "reporter":
            return f"the reporter {recipient}"
        case "lead":
            return f"{recipient} (queue lead)"
        case "previous_assignee":
            return f"{recipient} (previous assignee)"
        case _:
            return recipient


def _tries(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def _notified(event: notifications.NotificationSent) -> str:
    who = _recipient(event.role, event.recipient)
    return f"Notified {who} by {event.channel} ({event.kind}){_tries(event.attempts)}"


def _not_notified(event: notifications.NotificationFailed) -> str:
    who = _recipient(event.role, event.recipient)
    return f"Could not notify {who} by {event.channel} ({event.kind}){_tries(event.attempts)}: {event.error}"


_tells(notifications.NotificationSent, "notified", lambda e: (e.sent_at, _notified(e)))
_tells(notifications.NotificationFailed, "notification_failed", lambda e: (e.failed_at, _not_notified(e)))


def mail_received(sender: str, attachments: int, *, reply: bool, follow_up_to: str | None = None) -> str:
    """The line a mail taken in puts on its incident's timeline (intake's own, kind ``email``);
    ``follow_up_to``: the reference of the incident the mail answered, when its sender may not add
    to that one (neither its reporter nor mailed about it)."""
    what = f"Reply by email from {sender}" if reply else f"Received by email from {sender}"
    if follow_up_to is not None:
        what += f" as a follow-up to {follow_up_to}"
        what += f" (not its reporter or a notified address: {follow_up_to} unchanged)"
    if attachments:
        what += f" with {attachments} attachment" + ("" if attachments == 1 else "s")
    return what
