"""In-memory stand-ins for the router's repositories and unit of work, for unit tests only.

They answer like the real adapters for what the use cases ask: one aggregate per incident, the
same filters and orders (waiting: priority then age), loads counting open incidents, a savepoint
that undoes only its own changes. ``integration/test_fakes_contract.py`` runs the same scenarios
on these and on the real adapters over PostgreSQL and asserts the same answers.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from tierline_router.domain.assignment import Assignment
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import ListedVendor, RoutingConfig, VendorContract
from tierline_shared.errors import NotFound
from tierline_shared.events import Event, VendorChanged


def catalog_of(config: RoutingConfig) -> Catalog:
    """The catalog the real repository loads once ``config`` is applied: queues by tier then file order."""
    return Catalog(
        agents={a.name: a for a in config.agents},
        queues=sorted(config.queues, key=lambda q: q.tier),
        policies=list(config.escalation_policies),
    )


class FakeAssignments:
    """``AssignmentRepository`` over a dict: the stored aggregates are the ones handed out."""

    def __init__(self) -> None:
        self.stored: dict[uuid.UUID, Assignment] = {}

    def save(self, assignment: Assignment) -> None:
        self.stored[assignment.incident_id] = assignment

    def _where(self, keep: Callable[[Assignment], bool]) -> list[Assignment]:
        return [a for a in self.stored.values() if keep(a)]

    async def load(self, incident_id: uuid.UUID, *, lock: bool = False) -> Assignment | None:
        return self.stored.get(incident_id)

    async def load_or_404(self, incident_id: uuid.UUID, *, lock: bool = False) -> Assignment:
        if incident_id not in self.stored:
            raise NotFound(f"The router holds no incident {incident_id}.")
        return self.stored[incident_id]

    async def held_by(self, agent: str, queue: str | None = None) -> list[Assignment]:
        found = self._where(lambda a: a.is_active and a.assignee == agent and queue in (None, a.queue))
        return sorted(found, key=lambda a: a.created_at)

    async def waiting_in(self, queue: str) -> list[Assignment]:
        found = self._where(
            lambda a: a.is_active and a.queue == queue and a.assignee is None and a.waiting_since is not None
        )
        return sorted(found, key=lambda a: (a.priority, a.waiting_since, a.incident_id))

    async def ack_overdue(self, now: datetime, limit: int) -> list[Assignment]:
        found = self._where(
            lambda a: (
                a.ack_due_at is not None and a.ack_due_at <= now and a.is_active and not a.is_acknowledged
            )
        )
        return sorted(found, key=lambda a: a.ack_due_at or now)[:limit]

    async def loads(self, agents: Sequence[str]) -> dict[str, int]:
        held: dict[str, int] = {}
        for a in self._where(lambda a: a.is_active and a.assignee in agents):
            held[a.assignee or ""] = held.get(a.assignee or "", 0) + 1
        return held


class FakeCatalog:
    """``CatalogRepository`` (the router's): a fixed catalog and each queue's rotation."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.positions = {q.name: 0 for q in catalog.queues}

    async def load(self) -> Catalog:
        return self.catalog

    async def rotation(self, queue: str) -> int | None:
        return self.positions.get(queue)

    async def turn(self, queue: str, position: int) -> None:
        if queue in self.positions:  # like the real one: a queue that is gone keeps no rotation
            self.positions[queue] = position


class FakeVendors:
    """``VendorDirectory`` over a dict: the latest word on each vendor."""

    def __init__(self) -> None:
        self.listed: dict[str, ListedVendor] = {}
        self.revisions: dict[str, int] = {}

    async def directory(self) -> dict[str, ListedVendor]:
        return dict(self.listed)

    async def record(self, event: VendorChanged) -> None:
        if event.vendor in self.revisions and self.revisions[event.vendor] >= event.revision:
            return  # an older announcement arriving late changes nothing
        contract = event.contract
        self.revisions[event.vendor] = event.revision
        self.listed[event.vendor] = ListedVendor(
            vendor=event.vendor,
            products=list(event.products),
            categories=list(event.categories),
            contract=VendorContract.model_validate(  # seconds, parsed as durations like the real one
                {
                    "response": contract.response_seconds if contract else None,
                    "resolution": contract.resolution_seconds if contract else None,
                }
            ),
            is_enabled=event.is_enabled,
        )


class FakeUnitOfWork:
    """``RouterUnitOfWork`` without a database: announced events and after-commit actions are kept."""

    def __init__(self, catalog: Catalog) -> None:
        self.assignments = FakeAssignments()
        self.catalog = FakeCatalog(catalog)
        self.vendors = FakeVendors()
        self.announced: list[Event] = []
        self.on_commit: list[Callable[[], None]] = []

    async def lock_routing(self) -> None:
        pass

    async def announce(self, event: Event) -> None:
        self.announced.append(event)

    def after_commit(self, action: Callable[[], None]) -> None:
        self.on_commit.append(action)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Every write inside is undone if it fails: assignments, rotations, vendors, announcements and
        after-commit actions; those made before it stay."""
        stored = self.assignments.stored
        kept = {key: copy.deepcopy(vars(a)) for key, a in stored.items()}
        positions = dict(self.catalog.positions)
        listed, revisions = dict(self.vendors.listed), dict(self.vendors.revisions)
        announced, on_commit = len(self.announced), len(self.on_commit)
        try:
            yield
        except BaseException:
            for key in [key for key in stored if key not in kept]:
                del stored[key]  # saved inside the savepoint: never stored
            for key, state in kept.items():
                vars(stored[key]).update(state)
            self.catalog.positions = positions
            self.vendors.listed, self.vendors.revisions = listed, revisions
            del self.announced[announced:]
            del self.on_commit[on_commit:]  # what it counted never happened
            raise

    def said(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.announced if isinstance(e, kind)]
