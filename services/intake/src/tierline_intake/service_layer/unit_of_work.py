"""Intake's unit of work: its repositories over the edge's transaction, and the timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.access_repository import ApiKeyRepository, IntegrationRepository
from tierline_intake.adapters.facts_repository import FactsRepository
from tierline_intake.adapters.links_repository import UsedLinkRepository
from tierline_intake.adapters.orm import idempotency_keys
from tierline_intake.adapters.repository import (
    IncidentRepository,
    ProblemRepository,
    SlaViewRepository,
    TimelineRepository,
)
from tierline_intake.domain.incident import Happened, Incident
from tierline_intake.domain.timeline import Line
from tierline_shared.events import Envelope, IncidentEvent
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.unit_of_work import UnitOfWork

SOURCE = "intake"  # how intake's own lines on a timeline name their source


class IntakeUnitOfWork(UnitOfWork):
    idempotency_keys = idempotency_keys  # the table replaying a repeated Idempotency-Key's answer

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.incidents = IncidentRepository(session)
        self.timeline = TimelineRepository(session)
        self.sla = SlaViewRepository(session)
        self.problems = ProblemRepository(session)
        self.integrations = IntegrationRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.used_links = UsedLinkRepository(session)
        self.facts = FactsRepository(session)  # the reports' facts and their stale queue

    async def record(self, incident_id: uuid.UUID, happened: Happened) -> None:
        """Publish what happened to the incident (if it is news for others) and put it on its timeline."""
        event_id = None
        if happened.event is not None:
            event_id = (await self.announce(happened.event)).id
        self.timeline.record(
            incident_id,
            at=happened.at,
            kind=happened.kind,
            summary=happened.summary,
            source=SOURCE,
            event_id=event_id,
            data=happened.data,
        )

    async def record_many(self, happenings: list[tuple[Incident, Happened]]) -> None:
        """:meth:`record` for many, in order: one INSERT for their events, one for their lines."""
        announced = iter(await self.announce_many([h.event for _, h in happenings if h.event is not None]))
        await self.timeline.record_many(
            [
                {
                    "incident_id": incident.id,
                    "at": happened.at,
                    "kind": happened.kind,
                    "summary": happened.summary,
                    "source": SOURCE,
                    "event_id": next(announced).id if happened.event is not None else None,
                    "data": happened.data,
                }
                for incident, happened in happenings
            ]
        )

    def received(self, event: IncidentEvent, origin: Origin, line: Line) -> None:
        """Put what another service told us on the incident's timeline, with the event's data."""
        self.timeline.record(
            event.incident_id,
            at=line.at,
            kind=line.kind,
            summary=line.summary,
            source=origin.source,
            event_id=origin.event_id,
            data=event.model_dump(mode="json", exclude={"incident_id"}),
        )


@dataclass(frozen=True)
class Origin:
    """Where a consumed event came from: its envelope's id and the sending service's name."""

    event_id: uuid.UUID
    source: str  # e.g. "router", the last part of the envelope's source

    @classmethod
    def of(cls, envelope: Envelope) -> Origin:
        return cls(envelope.id, envelope.source.rsplit("/", 1)[-1])
