"""A catalog's rows (one table keyed by name) read and written for the catalog use cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import advisory_xact_lock, get_or_404


class CatalogRow(Protocol):
    """What every catalog table holds: a name (its key) and who manages it, the file or the API."""

    name: str
    managed_by: str


RowT = TypeVar("RowT", bound=Any)


class CatalogRepository(Generic[RowT]):
    """The rows of one catalog table, inside the caller's transaction.

    ``order``: the columns the catalog is listed by (match order for a ranked catalog, e.g.
    tier, rank, name; the name for an unranked one). ``what`` names an entry in messages.
    """

    def __init__(
        self, session: AsyncSession, row: type[RowT], *, what: str, order: Sequence[str] = ("name",)
    ) -> None:
        self.session = session
        self.row = row
        self.what = what
        self.order = tuple(order)

    def columns(self) -> frozenset[str]:
        return frozenset(self.row.__table__.columns.keys())

    async def lock(self, key: str) -> None:
        """Hold the catalog's advisory lock until the transaction ends (one change at a time)."""
        await advisory_xact_lock(self.session, key)

    async def get(self, name: str, *, lock: bool = False) -> RowT | None:
        return await self.session.get(self.row, name, with_for_update=lock or None)

    async def found(self, name: str, *, lock: bool = False) -> RowT:
        """The row named ``name``; NotFound (404) naming the entry otherwise."""
        return await get_or_404(self.session, self.row, name, self.what, lock=lock)

    async def rows(self, where: Mapping[str, Any] | None = None) -> list[RowT]:
        """The rows in listing order, only those with the column values of ``where`` when given."""
        stmt = select(self.row).order_by(*(getattr(self.row, c) for c in self.order))
        if where:
            stmt = stmt.filter_by(**where)
        return list((await self.session.scalars(stmt)).all())

    def add(self, row: RowT) -> None:
        self.session.add(row)

    async def remove(self, row: RowT) -> None:
        await self.session.delete(row)

    async def flush(self) -> None:
        await self.session.flush()

    def expire_all(self) -> None:
        """Forget loaded rows: statements the session did not track (upserts) changed them."""
        self.session.expire_all()

    async def upsert(self, name: str, values: Mapping[str, Any], *, on_insert: Mapping[str, Any]) -> None:
        """Write ``values`` on the row named ``name``, made with ``on_insert`` too when it is new."""
        await self.session.execute(
            insert(self.row)
            .values(name=name, **on_insert, **values)
            .on_conflict_do_update(index_elements=[self.row.name], set_=dict(values))
        )

    async def insert_new(self, name: str, values: Mapping[str, Any]) -> bool:
        """Make the row named ``name``; False when it exists (a concurrent insert included)."""
        made = await self.session.scalar(
            insert(self.row)
            .values(name=name, **values)
            .on_conflict_do_nothing(index_elements=[self.row.name])
            .returning(self.row.name)
        )
        return made is not None
