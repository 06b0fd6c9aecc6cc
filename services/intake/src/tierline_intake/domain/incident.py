"""The incident aggregate: its state, the rules of its life, and what each change announces.

Every method that changes an incident takes ``now`` (no clock reads here), enforces the
state machine of :mod:`tierline_intake.domain.lifecycle` and returns a :class:`Happened`:
the line for the incident's timeline and, when others must learn of it, the event to publish.
The service layer loads, calls, saves and announces; it never sets a field itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from tierline_intake.domain.incident_record import IncidentRecord
from tierline_intake.domain.lifecycle import (
    IllegalTransition,
    Status,
    check_csat,
    check_editable,
    check_reopen,
    check_transition,
    status_after_resume,
)
from tierline_intake.domain.priority import PriorityDecision, reprioritise
from tierline_shared.errors import Conflict, InvalidInput
from tierline_shared.events import (
    FieldChange,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentCreated,
    IncidentEvent,
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
)
from tierline_shared.events.incidents import Channel, IncidentType, Level, Priority

Matrix = Mapping[str, Mapping[str, str]]
# incident: something broke; service_request: something asked for (password reset, access, account change)
INCIDENT_TYPES: tuple[IncidentType, ...] = ("incident", "service_request")


def check_type(value: str) -> None:
    """Refuses an unknown incident type (the edge checks first; this guards every other caller)."""
    if value not in INCIDENT_TYPES:
        reason = f"{value!r} is not one of {', '.join(INCIDENT_TYPES)}"
        raise InvalidInput("Unknown incident type.", errors=[{"field": "type", "reason": reason}])


@dataclass(frozen=True)
class Happened:
    """One line of the incident's timeline; ``event`` (if any) is published with it."""

    kind: str
    summary: str
    at: datetime
    data: dict[str, Any] | None = None
    event: IncidentEvent | None = None


@dataclass
class Incident(IncidentRecord):
    """An incident and the rules of its life (see the module's doc)."""

    # -- birth -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        id: uuid.UUID,
        title: str,
        description: str,
        service: str,
        category: str,
        channel: str,
        reporter: str,
        decision: PriorityDecision,
        now: datetime,
        product: str | None = None,
        customer: str | None = None,
        impact: str | None = None,
        urgency: str | None = None,
        dedup_key: str | None = None,
        integration_id: uuid.UUID | None = None,
        knowledge: list[dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
        type: str = "incident",
    ) -> Incident:
        """A new open incident; :meth:`created` is what its birth announces once stored."""
        check_type(type)
        return cls(
            id=id,
            title=title,
            description=description,
            service=service,
            category=category,
            product=product,
            customer=customer,
            impact=impact,
            urgency=urgency,
            priority=decision.priority,
            priority_source=decision.source,
            channel=channel,
            reporter=reporter,
            dedup_key=dedup_key,
            type=type,
            status=Status.OPEN,
            created_at=now,
            updated_at=now,
            last_seen_at=now,
            occurrences=1,
            reopen_count=0,
            knowledge=list(knowledge or []),
            integration_id=integration_id,
            details=dict(details or {}),
        )

    def created(self) -> Happened:
        event = IncidentCreated(
            incident_id=self.id,
            title=self.title,
            description=self.description,
            service=self.service,
            category=self.category,
            product=self.product,
            customer=self.customer,
            priority=cast(Priority, self.priority),
            impact=cast(Level | None, self.impact),
            urgency=cast(Level | None, self.urgency),
            channel=cast(Channel, self.channel),
            reporter=self.reporter,
            dedup_key=self.dedup_key,
            created_at=self.created_at,
            type=cast(IncidentType, self.type),
        )
        what = "Created a service request" if self.type == "service_request" else "Created"
        return Happened(
            "created",
            f"{what} via {self.channel} by {self.reporter} as {self.priority} ({self.priority_source})",
            self.created_at,
            {"priority": self.priority, "priority_source": self.priority_source, "type": self.type},
            event,
        )

    def record_occurrence(self, *, channel: str, reporter: str, title: str, now: datetime) -> Happened:
        """The same problem reported again while open: counted instead of opening a duplicate."""
        self.occurrences += 1
        self.last_seen_at = self.updated_at = now
        return Happened(
            "occurrence",
            f"Reported again via {channel} by {reporter} (occurrence {self.occurrences})",
            now,
            {"occurrences": self.occurrences, "title": title},
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def acknowledge(self, *, by: str | None, now: datetime) -> Happened:
        if self.status != Status.OPEN:  # on hold: resume first; later states: too late
            check_transition(self.status, Status.ACKNOWLEDGED, action="be acknowledged")
            raise IllegalTransition(
                f"An incident that is {self.status.value} cannot be acknowledged; resume it first.",
                current_status=self.status.value,
                requested_status=Status.ACKNOWLEDGED.value,
            )
        self.status = Status.ACKNOWLEDGED
        self.acknowledged_at = self.updated_at = now
        return Happened(
            "acknowledged",
            f"Acknowledged by {by or 'an agent'}",
            now,
            event=IncidentAcknowledged(incident_id=self.id, acknowledged_at=now, by=by),
        )

    def resolve(
        self,
        *,
        now: datetime,
        by: str | None = None,
        resolution_code: str | None = None,
        note: str | None = None,
        knowledge_article: str | None = None,
        source: str = "agent",
    ) -> Happened:
        """Resolved: the tier's budget ends with it (the service layer cancels its clock)."""
        check_transition(self.status, Status.RESOLVED)
        self.status = Status.RESOLVED
        self.resolved_at = self.updated_at = now
        self.resolution_code, self.resolution_note = resolution_code, note
        self.knowledge_article_used = knowledge_article
        self.hold_reason = None
        return Happened(
            "resolved",
            f"Resolved by {by or source}" + (f": {resolution_code}" if resolution_code else ""),
            now,
            {
                "resolution_code": resolution_code,
                "note": note,
                "source": source,
                "knowledge_article": knowledge_article,
            },
            IncidentResolved(
                incident_id=self.id,
                resolved_at=now,
                by=by,
                resolution_code=resolution_code,
                note=note,
                source=cast(Any, source),
            ),
        )

    def put_on_hold(self, *, reason: str, note: str | None, by: str | None, now: datetime) -> Happened:
        check_transition(self.status, Status.ON_HOLD, action="be put on hold")
        self.status, self.hold_reason, self.updated_at = Status.ON_HOLD, reason, now
        return Happened(
            "on_hold",
            f"On hold: {reason.replace('_', ' ')}" + (f" - {note}" if note else ""),
            now,
            {"reason": reason, "note": note, "by": by},
            IncidentPutOnHold(incident_id=self.id, reason=cast(Any, reason), note=note, at=now, by=by),
        )

    def resume(self, *, by: str | None, now: datetime) -> Happened:
        """Back to where it was before the hold: acknowledged if someone had taken it."""
        if self.status != Status.ON_HOLD:
            raise IllegalTransition(
                f"An incident that is {self.status.value} is not on hold; there is nothing to resume.",
                current_status=self.status.value,
                requested_status="resumed",
            )
        target = status_after_resume(self.acknowledged_at)
        self.status, self.hold_reason, self.updated_at = target, None, now
        return Happened(
            "resumed",
            f"Resumed ({target.value})",
            now,
            {"by": by},
            IncidentResumed(incident_id=self.id, status=cast(Any, target.value), at=now, by=by),
        )

    def check_reopen(self, *, now: datetime, window: timedelta) -> None:
        """Raises unless the incident may be reopened now (resolved, within the window)."""
        check_transition(self.status, Status.OPEN, action="be reopened")
        check_reopen(self.resolved_at, now, window)

    def reopen(
        self,
        *,
        reason: str | None,
        by: str | None,
        now: datetime,
        window: timedelta,
        newer_open: uuid.UUID | None = None,
    ) -> Happened:
        """Open again; refused while ``newer_open``, a newer open incident, holds its dedup key."""
        self.check_reopen(now=now, window=window)
        if newer_open is not None:
            raise Conflict(
                "A newer open incident holds this dedup_key; work on that one instead.",
                open_incident_id=str(newer_open),
            )
        self.status, self.updated_at = Status.OPEN, now
        self.resolved_at = self.resolution_code = self.resolution_note = None
        self.acknowledged_at = None
        self.reopen_count += 1
        return Happened(
            "reopened",
            "Reopened" + (f": {reason}" if reason else ""),
            now,
            {"reason": reason, "by": by},
            IncidentReopened(
                incident_id=self.id,
                reason=reason,
                priority=cast(Priority, self.priority),
                reopened_at=now,
                by=by,
            ),
        )

    def close(self, *, by: str | None, now: datetime) -> Happened:
        check_transition(self.status, Status.CLOSED, action="be closed (resolve it first)")
        self.status, self.closed_at, self.updated_at = Status.CLOSED, now, now
        return Happened(
            "closed", "Closed", now, event=IncidentClosed(incident_id=self.id, closed_at=now, by=by)
        )

    # -- notes, ratings and edits ------------------------------------------------------------

    def add_note(self, *, text: str, author: str | None, now: datetime) -> Happened:
        self.updated_at = now
        return Happened(
            "note", f"Note by {author or 'an agent'}: {text[:200]}", now, {"text": text, "author": author}
        )

    def record_csat(self, *, score: int, comment: str | None, now: datetime) -> Happened:
        """Customer satisfaction, once, after resolution."""
        check_csat(self.status, already_rated=self.csat_score is not None)
        self.csat_score, self.csat_comment, self.updated_at = score, comment, now
        return Happened("csat", f"Customer satisfaction {score}/5", now, {"score": score, "comment": comment})

    def update(
        self, changes: Mapping[str, Any], *, by: str | None, matrix: Matrix, now: datetime
    ) -> Happened | None:
        """Apply an edit (PATCH semantics); None when nothing changed.

        A change of priority, stated or derived from impact and urgency, is in the event, so
        router and SLA monitor follow it; pinning the current priority by hand is a change too.
        """
        check_editable(self.status)
        wanted = dict(changes)
        if "type" in wanted:
            check_type(wanted["type"])
        decision = reprioritise(
            matrix,
            current_priority=self.priority,
            current_source=self.priority_source,
            impact=wanted.get("impact", self.impact),
            urgency=wanted.get("urgency", self.urgency),
            explicit=wanted.pop("priority", None),
        )
        wanted["priority"] = decision.priority
        changed: dict[str, FieldChange] = {}
        for name, new in wanted.items():
            old: Any = getattr(self, name)
            if old != new:
                changed[name] = FieldChange(old=old, new=new)
                setattr(self, name, new)
        if decision.source != self.priority_source:
            changed["priority_source"] = FieldChange(old=self.priority_source, new=decision.source)
            self.priority_source = decision.source
        if not changed:
            return None
        self.updated_at = now
        described = ", ".join(f"{k} {v.old!r} -> {v.new!r}" for k, v in changed.items() if k != "description")
        return Happened(
            "updated",
            f"Updated: {described or 'description'}",
            now,
            {k: v.model_dump(mode="json") for k, v in changed.items()},
            IncidentUpdated(
                incident_id=self.id,
                changes=changed,
                priority=cast(Priority, self.priority),
                service=self.service,
                category=self.category,
                product=self.product,
                updated_at=now,
                by=by,
                type=cast(IncidentType, self.type),
            ),
        )

    def link_problem(self, problem_id: uuid.UUID, *, now: datetime) -> bool:
        """Linked to the problem; False if it already was."""
        if self.problem_id == problem_id:
            return False
        self.problem_id, self.updated_at = problem_id, now
        return True

    # -- what other services did (the read model follows them) -------------------------------

    def assigned(self, *, tier: str, queue: str, assignee: str | None, at: datetime) -> None:
        """Routed to a queue and perhaps an agent (None: it waits, nobody holds it any more)."""
        self.tier, self.queue, self.assignee = tier, queue, assignee
        self.updated_at = max(self.updated_at, at)

    def escalated(
        self, *, tier: str, queue: str | None, assignee: str | None, vendor: str | None, at: datetime
    ) -> None:
        """Changed tier, up or down; only L4 has a vendor (a hand-back clears it)."""
        self.tier, self.queue, self.assignee = tier, queue, assignee
        self.vendor = vendor
        self.updated_at = max(self.updated_at, at)

    def handed_to_vendor(self, *, vendor: str, case_id: uuid.UUID, reference: str | None) -> None:
        self.vendor, self.vendor_case_id = vendor, case_id
        self.vendor_said(reference)

    def vendor_said(self, reference: str | None) -> None:
        """The vendor's own reference for the case, once it gives one (a later None keeps it)."""
        self.vendor_reference = reference or self.vendor_reference

    @property
    def resolved(self) -> bool:
        return self.status == Status.RESOLVED
