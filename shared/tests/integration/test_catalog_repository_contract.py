"""The unit tests' ``MemoryRepository`` (``fakes_catalog``) answers like ``CatalogRepository`` on PostgreSQL.

Every scenario runs on the fake and on the real repository over a ``lanes`` table with the fake
row's columns and defaults, and asserts the same answers: rows added are found (the same object
within a transaction), listed in the catalog's order and filtered by column values, changes and
removals are read back, upserts and inserts of new names behave alike, locks never fail.
One database per module, emptied before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from sqlalchemy import DateTime, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tierline_shared import db
from tierline_shared.catalog.repository import CatalogRepository
from tierline_shared.errors import NotFound

from ..fakes_catalog import LaneRow, MemoryRepository

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RANKED = ("tier", "rank", "name")
COLUMNS = ("name", "managed_by", "tier", "spec", "rank", "created_at", "updated_at")


class Base(DeclarativeBase):
    metadata = db.new_metadata()


class LaneTable(Base):
    """``LaneRow`` as a table: the same columns and defaults."""

    __tablename__ = "lanes"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    managed_by: Mapped[str] = mapped_column(Text)
    tier: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Backend(Protocol):
    def transaction(self, order: Sequence[str] = RANKED) -> AbstractAsyncContextManager[Any]: ...


class FakeBackend:
    """The fake keeps no transactions: every ``transaction()`` sees the same rows."""

    def __init__(self) -> None:
        self.saved: dict[str, LaneRow] = {}

    @asynccontextmanager
    async def transaction(self, order: Sequence[str] = RANKED) -> AsyncIterator[MemoryRepository[LaneRow]]:
        repo = MemoryRepository(LaneRow, what="lane", order=order)
        repo.saved = self.saved
        yield repo


class RealBackend:
    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    @asynccontextmanager
    async def transaction(self, order: Sequence[str] = RANKED) -> AsyncIterator[CatalogRepository[LaneTable]]:
        async with self.sessions() as session, session.begin():
            yield CatalogRepository(session, LaneTable, what="lane", order=order)


@pytest.fixture(scope="module")
def database_url(new_database: Callable[[str], str]) -> str:
    return new_database("catalog_fakes")


@pytest.fixture(params=["fake", "postgres"])
async def backend(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Backend]:
    if request.param == "fake":
        yield FakeBackend()
        return
    engine = db.create_engine(database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(text("TRUNCATE lanes"))
    try:
        yield RealBackend(db.session_factory(engine))
    finally:
        await engine.dispose()


def view(row: Any) -> tuple[Any, ...] | None:
    return None if row is None else tuple(getattr(row, c) for c in COLUMNS)


def names(rows: list[Any]) -> list[str]:
    return [r.name for r in rows]


async def add(backend: Backend, *lanes: tuple[str, str, int]) -> None:
    async with backend.transaction() as repo:
        for name, tier, rank in lanes:
            repo.add(repo.row(name=name, managed_by="api", tier=tier, rank=rank, spec={"services": []}))


async def test_the_columns_are_the_rows(backend: Backend) -> None:
    async with backend.transaction() as repo:
        assert repo.columns() == frozenset(COLUMNS)


async def test_an_added_row_is_found_and_is_one_object_per_transaction(backend: Backend) -> None:
    async with backend.transaction() as repo:
        repo.add(repo.row(name="a", managed_by="api", tier="L1", spec={"services": ["mail"]}, rank=1))
        repo.add(repo.row(name="b", managed_by="config", tier="L1", rank=2, created_at=T0, updated_at=T0))
        assert names(await repo.rows()) == ["a", "b"]  # listed before any flush
    async with backend.transaction() as repo:
        a = await repo.get("a")
        assert view(a) == ("a", "api", "L1", {"services": ["mail"]}, 1, None, None)
        assert view(await repo.found("b")) == ("b", "config", "L1", {}, 2, T0, T0)
        assert await repo.get("a", lock=True) is a
        assert await repo.found("a", lock=True) is a
        assert (await repo.rows({"name": "a"}))[0] is a


async def test_an_unknown_name_is_none_or_not_found_naming_it(backend: Backend) -> None:
    async with backend.transaction() as repo:
        assert await repo.get("x") is None
        assert await repo.get("x", lock=True) is None
    for lock in (False, True):
        with pytest.raises(NotFound) as missing:
            async with backend.transaction() as repo:
                await repo.found("x", lock=lock)
        assert (missing.value.detail, missing.value.extensions) == ("There is no lane 'x'.", {"name": "x"})


async def test_rows_are_listed_in_the_catalogs_order_and_filtered_by_column_values(backend: Backend) -> None:
    await add(backend, ("c", "L2", 1), ("b", "L1", 2), ("a", "L1", 2), ("d", "L1", 1), ("e", "L2", 2))
    async with backend.transaction() as repo:
        assert names(await repo.rows()) == ["d", "a", "b", "c", "e"]  # tier, rank, then name
        assert names(await repo.rows(None)) == ["d", "a", "b", "c", "e"]
        assert names(await repo.rows({})) == ["d", "a", "b", "c", "e"]
        assert names(await repo.rows({"tier": "L1"})) == ["d", "a", "b"]
        assert names(await repo.rows({"tier": "L1", "rank": 2})) == ["a", "b"]
        assert await repo.rows({"tier": "L9"}) == []
    async with backend.transaction(order=("name",)) as repo:
        assert names(await repo.rows()) == ["a", "b", "c", "d", "e"]
        assert names(await repo.rows({"tier": "L2"})) == ["c", "e"]


async def test_changes_to_a_found_row_are_read_back(backend: Backend) -> None:
    await add(backend, ("a", "L1", 1), ("b", "L1", 2))
    async with backend.transaction() as repo:
        row = await repo.found("a")
        row.spec, row.rank, row.tier, row.updated_at = {"services": ["mail"]}, 1, "L2", T1
        assert names(await repo.rows({"tier": "L2"})) == ["a"]  # seen by the transaction's own queries
    async with backend.transaction() as repo:
        assert view(await repo.get("a")) == ("a", "api", "L2", {"services": ["mail"]}, 1, None, T1)
        assert names(await repo.rows({"tier": "L1"})) == ["b"]


async def test_a_removed_row_is_gone(backend: Backend) -> None:
    await add(backend, ("a", "L1", 1), ("b", "L1", 2))
    async with backend.transaction() as repo:
        await repo.remove(await repo.found("a"))
        assert names(await repo.rows()) == ["b"]
        assert await repo.get("a") is None
    async with backend.transaction() as repo:
        assert names(await repo.rows()) == ["b"]
        with pytest.raises(NotFound):
            await repo.found("a")


async def test_an_upsert_makes_a_new_row_or_writes_only_the_values_on_one_that_exists(
    backend: Backend,
) -> None:
    await add(backend, ("a", "L1", 1))
    async with backend.transaction() as repo:
        await repo.found("a")  # loaded before: the upsert's values show once the rows are read again
        made = {"managed_by": "config", "created_at": T0}  # a whole row even for a name that exists
        await repo.upsert("a", {"spec": {"services": ["x"]}, "updated_at": T1}, on_insert=made)
        await repo.upsert("n", {"tier": "L1", "rank": 2, "updated_at": T0}, on_insert=made)
        with pytest.raises(TypeError):  # a column both written every time and set only when made
            await repo.upsert("a", {"created_at": T1}, on_insert=made)
        await repo.flush()
        repo.expire_all()
        assert names(await repo.rows()) == ["a", "n"]
        assert view(await repo.get("a")) == ("a", "api", "L1", {"services": ["x"]}, 1, None, T1)
        assert view(await repo.get("n")) == ("n", "config", "L1", {}, 2, T0, T0)
    async with backend.transaction() as repo:
        assert view(await repo.get("a")) == ("a", "api", "L1", {"services": ["x"]}, 1, None, T1)
        assert view(await repo.get("n")) == ("n", "config", "L1", {}, 2, T0, T0)


async def test_insert_new_refuses_a_taken_name_even_one_not_yet_flushed(backend: Backend) -> None:
    await add(backend, ("a", "L1", 1))
    async with backend.transaction() as repo:
        assert await repo.insert_new("a", {"managed_by": "api", "tier": "L9"}) is False
        repo.add(repo.row(name="p", managed_by="api", tier="L1"))
        assert await repo.insert_new("p", {"managed_by": "api", "tier": "L9"}) is False
        assert await repo.insert_new("n", {"managed_by": "api", "created_at": T0}) is True
        assert await repo.insert_new("n", {"managed_by": "api"}) is False
        assert names(await repo.rows()) == ["n", "p", "a"]  # "" before L1; p's rank defaults to 0
    async with backend.transaction() as repo:
        assert view(await repo.get("a")) == ("a", "api", "L1", {"services": []}, 1, None, None)
        assert view(await repo.get("n")) == ("n", "api", "", {}, 0, T0, None)
        assert view(await repo.get("p")) == ("p", "api", "L1", {}, 0, None, None)


async def test_locks_never_fail_and_nest(backend: Backend) -> None:
    await add(backend, ("a", "L1", 1))
    async with backend.transaction() as repo:
        await repo.lock("tierline.test.lanes")
        await repo.lock("tierline.test.lanes")  # taken twice in one transaction
        await repo.lock("tierline.test.other")
        assert (await repo.found("a", lock=True)).name == "a"
        await repo.flush()
