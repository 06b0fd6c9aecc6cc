"""The unit tests' fakes (``tests/fakes.py``) answer like the real adapters on PostgreSQL.

Every scenario runs twice, on ``FakeUnitOfWork`` and on ``RouterUnitOfWork`` over a migrated
database, and asserts the same answers: what is saved is read back, the use cases' queries filter
and order alike, the catalog and vendor directory read what was written, locks never fail and a
savepoint undoes only its own writes. One database per module, emptied before each test.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any, Protocol

import pytest
from sqlalchemy import select, text

from tierline_router.adapters.orm import Base, outbox
from tierline_router.domain.assignment import RELEASED, Assignment
from tierline_router.domain.model import ListedVendor, RoutingConfig, VendorContract
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.errors import NotFound
from tierline_shared.events import Event, VendorChanged
from tierline_shared.events.routing import VendorContract as ContractTargets
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox

from ..fakes import FakeUnitOfWork, catalog_of
from .conftest import MIGRATIONS, T0, config, created

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)


class Backend(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def announced(self) -> list[Event]: ...


class FakeBackend:
    """The fake keeps no transactions: one unit of work throughout; "commit" runs its after-commit actions."""

    def __init__(self, cfg: RoutingConfig) -> None:
        self.uow = FakeUnitOfWork(catalog_of(cfg))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeUnitOfWork]:
        ran = len(self.uow.on_commit)
        yield self.uow
        for action in self.uow.on_commit[ran:]:
            action()

    async def announced(self) -> list[Event]:
        return list(self.uow.announced)


class RealBackend:
    """One committed transaction per ``transaction()``, as the edge opens them."""

    def __init__(self, sessions: Any, deps: RouterDeps) -> None:
        self.sessions = sessions
        self.deps = deps

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RouterUnitOfWork]:
        async with self.sessions() as session, session.begin():
            yield RouterUnitOfWork(session, self.deps.outbox)

    async def announced(self) -> list[Event]:
        async with self.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
        return [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]


@pytest.fixture(scope="module")
def database_url(new_database: Callable[[str], str]) -> str:
    url = new_database("router_fakes")
    migrations.upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(params=["fake", "postgres"])
async def backend(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Backend]:
    cfg = config()
    if request.param == "fake":
        yield FakeBackend(cfg)
        return
    engine = db.create_engine(database_url, pool_size=2)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    sessions = db.session_factory(engine)
    clock = FixedClock(T0)
    deps = RouterDeps(
        outbox=Outbox(outbox, "/tierline/router", clock), clock=clock, vendors=list(cfg.vendors)
    )
    async with sessions() as session, session.begin():
        await admin.apply_config(RouterUnitOfWork(session, deps.outbox), deps, cfg)
        await session.execute(outbox.delete())  # only what a scenario announces is compared
    try:
        yield RealBackend(sessions, deps)
    finally:
        await engine.dispose()


def assignment(**fields: Any) -> Assignment:
    values: dict[str, Any] = {
        "incident_id": uuid.uuid4(),
        "service": "mail",
        "category": "email",
        "product": None,
        "priority": "P3",
        "policy": "rest",
        "tier": "L1",
        "tier_entered_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return Assignment(**(values | fields))


def state(found: Assignment | None) -> dict[str, Any] | None:
    return None if found is None else dataclasses.asdict(found)


def ids(found: list[Assignment]) -> list[uuid.UUID]:
    return [a.incident_id for a in found]


async def store(backend: Backend, *assignments: Assignment) -> None:
    async with backend.transaction() as uow:
        for each in assignments:
            uow.assignments.save(each)


# --- assignments -----------------------------------------------------------------------------------


async def test_a_saved_assignment_is_read_back_and_loaded_once_per_transaction(backend: Backend) -> None:
    saved = assignment(
        queue="desk",
        assignee="ann",
        product="vpn-client",
        rejected_by=["acme"],
        ack_due_at=T0 + MINUTE,
        renotified=1,
        escalations=2,
    )
    expected = state(saved)
    await store(backend, saved)
    async with backend.transaction() as uow:
        loaded = await uow.assignments.load(saved.incident_id)
        assert state(loaded) == expected
        assert await uow.assignments.load(saved.incident_id, lock=True) is loaded
        assert await uow.assignments.load_or_404(saved.incident_id, lock=True) is loaded


async def test_an_unknown_incident_is_none_or_not_found(backend: Backend) -> None:
    unknown = uuid.uuid4()
    async with backend.transaction() as uow:
        assert await uow.assignments.load(unknown) is None
        assert await uow.assignments.load(unknown, lock=True) is None
    for lock in (False, True):
        with pytest.raises(NotFound) as missing:
            async with backend.transaction() as uow:
                await uow.assignments.load_or_404(unknown, lock=lock)
        assert missing.value.detail == f"The router holds no incident {unknown}."


async def test_saved_changes_are_read_back(backend: Backend) -> None:
    saved = assignment(queue="desk", assignee="ann", rejected_by=["acme"])
    await store(backend, saved)
    async with backend.transaction() as uow:
        changed = await uow.assignments.load_or_404(saved.incident_id, lock=True)
        changed.assignee, changed.queue, changed.tier = None, None, "L4"
        changed.vendor, changed.status, changed.is_acknowledged = "initech", RELEASED, True
        changed.rejected_by.append("globex")
        changed.renotified += 1
        changed.updated_at = T0 + MINUTE
        uow.assignments.save(changed)
        expected = state(changed)
    async with backend.transaction() as uow:
        assert state(await uow.assignments.load(saved.incident_id)) == expected


def _population() -> dict[str, Assignment]:
    """Assignments that each of the use cases' queries must keep or pass over."""
    waiting = {"queue": "desk", "waiting_since": T0 + MINUTE}
    return {
        # ann: two open incidents (the newer one first made), one released
        "ann_desk": assignment(queue="desk", assignee="ann", created_at=T0 + 2 * MINUTE),
        "ann_tech": assignment(queue="tech", assignee="ann", created_at=T0 + MINUTE, tier="L2"),
        "ann_done": assignment(queue="desk", assignee="ann", status=RELEASED),
        "bob_desk": assignment(queue="desk", assignee="bob", ack_due_at=T0 + 2 * MINUTE),
        # desk's waiting line: P2 before P3 whatever its age; equal P3s by age, then by incident id
        "w_p3_a": assignment(**waiting, ack_due_at=T0 + MINUTE),
        "w_p3_b": assignment(**waiting, ack_due_at=T0 + 3 * MINUTE),
        "w_p2": assignment(**(waiting | {"waiting_since": T0 + 5 * MINUTE}), priority="P2"),
        "w_p4_old": assignment(**(waiting | {"waiting_since": T0}), priority="P4"),
        "w_net": assignment(queue="net", waiting_since=T0),
        "w_done": assignment(**waiting, status=RELEASED, ack_due_at=T0),
        "not_waiting": assignment(queue="desk"),  # in the queue with nobody yet, not waiting
        "vendor": assignment(tier="L4", vendor="acme", ack_due_at=T0 + 10 * MINUTE),
        "acked": assignment(queue="desk", assignee="cat", ack_due_at=T0, is_acknowledged=True),
    }


async def test_the_use_cases_queries_filter_and_order_alike(backend: Backend) -> None:
    made = _population()
    await store(backend, *made.values())
    name = {a.incident_id: key for key, a in made.items()}
    async with backend.transaction() as uow:
        repo = uow.assignments

        async def names(found: Any) -> list[str]:
            return [name[i] for i in ids(await found)]

        assert await names(repo.held_by("ann")) == ["ann_tech", "ann_desk"]
        assert await names(repo.held_by("ann", "desk")) == ["ann_desk"]
        assert await names(repo.held_by("ann", "net")) == []
        assert await names(repo.held_by("nobody")) == []
        tie = sorted(["w_p3_a", "w_p3_b"], key=lambda key: made[key].incident_id)
        assert await names(repo.waiting_in("desk")) == ["w_p2", *tie, "w_p4_old"]
        assert await names(repo.waiting_in("net")) == ["w_net"]
        assert await names(repo.waiting_in("experts")) == []
        now = T0 + 3 * MINUTE  # due exactly now counts
        assert await names(repo.ack_overdue(now, 10)) == ["w_p3_a", "bob_desk", "w_p3_b"]
        assert await names(repo.ack_overdue(now, 2)) == ["w_p3_a", "bob_desk"]
        assert await names(repo.ack_overdue(T0 - MINUTE, 10)) == []
        assert await repo.loads(["ann", "bob", "cat", "zed"]) == {"ann": 2, "bob": 1, "cat": 1}
        assert await repo.loads(["zed"]) == {}
        assert await repo.loads([]) == {}


async def test_queries_answer_with_what_the_transaction_saved(backend: Backend) -> None:
    held = assignment(queue="desk", assignee="ann")
    await store(backend, held)
    async with backend.transaction() as uow:
        repo = uow.assignments
        mine = await repo.load_or_404(held.incident_id, lock=True)
        mine.assignee, mine.waiting_since = None, T0
        repo.save(mine)
        new = assignment(queue="desk", assignee="ann", created_at=T0 + MINUTE)
        repo.save(new)
        assert ids(await repo.held_by("ann")) == [new.incident_id]
        assert await repo.waiting_in("desk") == [mine]  # the very aggregate loaded, not a copy
        assert await repo.loads(["ann"]) == {"ann": 1}
        assert await repo.load(new.incident_id) is new
    async with backend.transaction() as uow:
        assert ids(await uow.assignments.waiting_in("desk")) == [held.incident_id]
        assert state(await uow.assignments.load(new.incident_id)) == state(new)


# --- the unit of work: locks, announcements, savepoints ----------------------------------------------


class Refused(Exception):
    pass


async def test_locking_calls_never_fail_and_nest(backend: Backend) -> None:
    held = assignment(queue="desk", assignee="ann", ack_due_at=T0)
    await store(backend, held)
    async with backend.transaction() as uow:
        await uow.lock_routing()
        await uow.lock_routing()  # taken twice in one transaction
        assert await uow.assignments.load(held.incident_id, lock=True) is not None
        assert len(await uow.assignments.held_by("ann")) == 1
        assert await uow.assignments.waiting_in("desk") == []
        assert len(await uow.assignments.ack_overdue(T0, 5)) == 1
        assert await uow.catalog.rotation("desk") == 0
        assert await uow.catalog.rotation("desk") == 0


async def test_a_failed_savepoint_undoes_only_its_own_writes(backend: Backend) -> None:
    before = assignment(queue="desk", assignee="ann")
    await store(backend, before)
    first, undone, last = created(), created(), created()
    async with backend.transaction() as uow:
        repo = uow.assignments
        await uow.announce(first)
        kept = await repo.load_or_404(before.incident_id, lock=True)
        kept.assignee = "cat"
        repo.save(kept)
        made = assignment(queue="desk", assignee="dan")
        with pytest.raises(Refused):
            async with uow.savepoint():
                repo.save(made)
                assert ids(await repo.held_by("dan")) == [made.incident_id]
                assert await uow.catalog.rotation("desk") == 0
                await uow.catalog.turn("desk", 3)
                await uow.vendors.record(vendor_changed("acme", 1))
                await uow.announce(undone)
                raise Refused
        assert await repo.load(made.incident_id) is None
        assert ids(await repo.held_by("dan")) == []
        assert await uow.catalog.rotation("desk") == 0
        assert await uow.vendors.directory() == {}
        assert (await repo.load_or_404(before.incident_id)).assignee == "cat"
        await uow.announce(last)
    async with backend.transaction() as uow:
        assert (await uow.assignments.load_or_404(before.incident_id)).assignee == "cat"
        assert await uow.assignments.load(made.incident_id) is None
        assert await uow.catalog.rotation("desk") == 0
    assert await backend.announced() == [first, last]


async def test_a_failed_savepoint_drops_only_its_own_after_commit_actions(backend: Backend) -> None:
    ran: list[str] = []
    async with backend.transaction() as uow:
        uow.after_commit(lambda: ran.append("before"))
        with pytest.raises(Refused):
            async with uow.savepoint():
                uow.after_commit(lambda: ran.append("inside"))
                raise Refused
        uow.after_commit(lambda: ran.append("after"))
    assert ran == ["before", "after"]


async def test_a_failed_savepoint_restores_an_aggregate_it_changed(backend: Backend) -> None:
    held = assignment(queue="desk", assignee="bob")
    await store(backend, held)
    async with backend.transaction() as uow:
        repo = uow.assignments
        untouched = state(await repo.load(held.incident_id))
        with pytest.raises(Refused):
            async with uow.savepoint():
                changed = await repo.load_or_404(held.incident_id, lock=True)
                changed.assignee = "eve"
                repo.save(changed)
                assert ids(await repo.held_by("eve")) == [held.incident_id]
                raise Refused
        assert state(await repo.load(held.incident_id)) == untouched
        assert ids(await repo.held_by("eve")) == []
    async with backend.transaction() as uow:
        assert state(await uow.assignments.load(held.incident_id)) == untouched


async def test_a_savepoint_that_succeeds_keeps_its_writes(backend: Backend) -> None:
    held = assignment(queue="desk", assignee="ann")
    await store(backend, held)
    event = created()
    async with backend.transaction() as uow:
        async with uow.savepoint():
            changed = await uow.assignments.load_or_404(held.incident_id, lock=True)
            changed.assignee = "bob"
            uow.assignments.save(changed)
            await uow.announce(event)
    async with backend.transaction() as uow:
        assert (await uow.assignments.load_or_404(held.incident_id)).assignee == "bob"
    assert await backend.announced() == [event]


async def test_after_commit_actions_run_once_committed(backend: Backend) -> None:
    ran: list[int] = []
    async with backend.transaction() as uow:
        uow.after_commit(lambda: ran.append(1))
        uow.after_commit(lambda: ran.append(2))
        assert ran == []
    assert ran == [1, 2]


# --- the catalog and the vendor directory ----------------------------------------------------------


async def test_the_catalog_loads_what_was_applied_and_rotations_turn(backend: Backend) -> None:
    cfg = config()
    names = [q.name for q in cfg.queues]
    async with backend.transaction() as uow:
        assert await uow.catalog.load() == catalog_of(cfg)
        assert [await uow.catalog.rotation(q) for q in names] == [0] * len(names)
        assert await uow.catalog.rotation("gone") is None
        await uow.catalog.turn("desk", 2)
        await uow.catalog.turn("gone", 5)  # a queue deleted meanwhile: nothing to turn
        assert await uow.catalog.rotation("desk") == 2
    async with backend.transaction() as uow:
        assert await uow.catalog.rotation("desk") == 2
        assert await uow.catalog.rotation("net") == 0
        assert await uow.catalog.rotation("gone") is None


def vendor_changed(vendor: str, revision: int, **fields: Any) -> VendorChanged:
    return VendorChanged(vendor=vendor, revision=revision, changed_at=T0, **({"is_enabled": True} | fields))


async def test_the_vendor_directory_keeps_the_latest_word_on_each_vendor(backend: Backend) -> None:
    async with backend.transaction() as uow:
        assert await uow.vendors.directory() == {}
        await uow.vendors.record(
            vendor_changed("acme", 2, products=["vpn"], contract=ContractTargets(response_seconds=3600.0))
        )
        await uow.vendors.record(vendor_changed("acme", 1, products=["old"]))  # late: ignored
        await uow.vendors.record(vendor_changed("initech", 1, categories=["network"], is_enabled=False))
        assert sorted(await uow.vendors.directory()) == ["acme", "initech"]
    acme = ListedVendor(vendor="acme", products=["vpn"], contract=VendorContract(response=timedelta(hours=1)))
    initech = ListedVendor(vendor="initech", categories=["network"], is_enabled=False)
    async with backend.transaction() as uow:
        assert await uow.vendors.directory() == {"acme": acme, "initech": initech}
        await uow.vendors.record(vendor_changed("acme", 2, products=["same revision"]))  # not newer
        await uow.vendors.record(
            vendor_changed("acme", 3, categories=["email"], contract=ContractTargets(resolution_seconds=60.0))
        )
    async with backend.transaction() as uow:
        assert await uow.vendors.directory() == {
            "acme": ListedVendor(
                vendor="acme", categories=["email"], contract=VendorContract(resolution=MINUTE)
            ),
            "initech": initech,
        }
