"""The notifier's unit of work, and what its use cases are given at start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_notifier.adapters import repository
from tierline_notifier.adapters.channels import SmtpSettings
from tierline_notifier.adapters.templates import Templates
from tierline_shared.clock import Clock
from tierline_shared.links import LinkSigner
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.unit_of_work import UnitOfWork


class NotifierUnitOfWork(UnitOfWork):
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.people = repository.people(session)
        self.teams = repository.teams(session)
        self.directory = repository.Directory(session)
        self.views = repository.IncidentViews(session)
        self.notifications = repository.Notifications(session)


@dataclass(frozen=True)
class NotifierDeps:
    outbox: Outbox
    clock: Clock
    templates: Templates
    schedule: Sequence[timedelta]  # the delay before each attempt; past the last a message is dead
    allow_hosts: Sequence[str]  # private hosts chat webhooks may reach
    intake_url: str  # where links act and incidents are followed
    smtp: SmtpSettings | None = None  # None: email is not configured
    signer: LinkSigner | None = None  # None: messages carry no acknowledge or CSAT links
    ack_link_ttl: timedelta = timedelta(hours=24)
    csat_link_ttl: timedelta = timedelta(days=14)

    def unit_of_work(self, session: AsyncSession) -> NotifierUnitOfWork:
        return NotifierUnitOfWork(session, self.outbox)
