"""Intake's use cases: create, acknowledge and resolve an incident.

Each function runs inside the caller's unit of work: it loads the incident, lets the
aggregate change it, saves it and records what happened (the event goes to the outbox
there), so the state change and the event commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.domain.alerts import DEFAULT_SEVERITY_RULES, SeverityRule
from tierline_intake.domain.facts import FirstContactWindows
from tierline_intake.domain.incident import Happened, Incident
from tierline_intake.domain.priority import decide_priority
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.clock import Clock
from tierline_shared.links import LinkSigner
from tierline_shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class IntakeDeps:
    outbox: Outbox
    clock: Clock
    priority_matrix: Mapping[str, Mapping[str, str]]
    knowledge: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)
    severity_rules: Mapping[str, SeverityRule] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_RULES))
    reopen_window: timedelta = timedelta(days=7)
    links: LinkSigner | None = None  # verifies acknowledge and CSAT links; None: links are not enabled
    first_contact_windows: FirstContactWindows = field(default_factory=FirstContactWindows)  # FCR windows

    def unit_of_work(self, session: AsyncSession) -> IntakeUnitOfWork:
        """The use cases' view of the edge's transaction over ``session``."""
        return IntakeUnitOfWork(session, self.outbox)


async def get_incident(uow: IntakeUnitOfWork, incident_id: uuid.UUID) -> Incident:
    """The incident; NotFound (404) if there is none."""
    return await uow.incidents.load(incident_id)


async def create_incident(
    uow: IntakeUnitOfWork, deps: IntakeDeps, cmd: CreateIncident
) -> tuple[Incident, bool]:
    """Create the incident, or count one more occurrence of the open one with its dedup key."""
    if cmd.dedup_key:
        existing = await uow.incidents.open_with_dedup_key(cmd.dedup_key)
        if existing is not None:
            await _record_occurrence(uow, deps, existing, cmd)
            return existing, False
    incident = new_incident(deps, cmd, now=deps.clock.now())
    twin = await uow.incidents.add_unless_taken(incident)
    if twin is not None:  # a concurrent report with the same dedup key won
        await _record_occurrence(uow, deps, twin, cmd)
        return twin, False
    await uow.record(incident.id, incident.created())
    return incident, True


def new_incident(deps: IntakeDeps, cmd: CreateIncident, *, now: datetime) -> Incident:
    """The incident ``cmd`` asks for, with its priority and knowledge links (not stored yet)."""
    decision = decide_priority(
        deps.priority_matrix, impact=cmd.impact, urgency=cmd.urgency, explicit=cmd.priority
    )
    return Incident.create(
        id=uuid.uuid4(),
        title=cmd.title,
        description=cmd.description,
        service=cmd.service,
        category=cmd.category,
        product=cmd.product,
        customer=cmd.customer,
        impact=cmd.impact,
        urgency=cmd.urgency,
        decision=decision,
        channel=cmd.channel,
        reporter=cmd.reporter,
        dedup_key=cmd.dedup_key,
        knowledge=list(deps.knowledge.get(cmd.category, [])),
        integration_id=cmd.integration_id,
        details=cmd.details,
        type=cmd.type,
        now=now,
    )


async def _record_occurrence(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident: Incident, cmd: CreateIncident
) -> None:
    happened = incident.record_occurrence(
        channel=cmd.channel, reporter=cmd.reporter, title=cmd.title, now=deps.clock.now()
    )
    uow.incidents.save(incident)
    await uow.record(incident.id, happened)


Action = Callable[[Incident, datetime], Happened | None]


async def act(uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, action: Action) -> Incident:
    """The shape of every change asked of an incident: load it locked, let ``action`` change it as
    of now, and if anything happened save it and record that (the event goes to the outbox)."""
    incident = await uow.incidents.load(incident_id, lock=True)
    happened = action(incident, deps.clock.now())
    if happened is not None:
        uow.incidents.save(incident)
        await uow.record(incident.id, happened)
    return incident


async def acknowledge_incident(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, by: str | None
) -> Incident:
    return await act(uow, deps, incident_id, lambda incident, now: incident.acknowledge(by=by, now=now))


async def resolve_incident(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, cmd: ResolveIncident
) -> Incident:
    incident = await act(
        uow,
        deps,
        incident_id,
        lambda incident, now: incident.resolve(
            now=now,
            by=cmd.by,
            resolution_code=cmd.resolution_code,
            note=cmd.note,
            knowledge_article=cmd.knowledge_article,
            source=cmd.source,
        ),
    )
    await uow.sla.cancel(incident.id, "tier")  # the tier's budget ends with the incident
    return incident
