"""An in-memory ``CatalogRepository`` for unit tests of the catalog use cases.

``integration/test_catalog_repository_contract.py`` runs the same scenarios on this fake and on
the real ``tierline_shared.catalog.repository.CatalogRepository`` over PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from tierline_shared.errors import NotFound

RowT = TypeVar("RowT", bound=Any)


@dataclass
class LaneRow:
    """A catalog row of the unit tests' lanes, ranked within its tier."""

    name: str
    managed_by: str
    tier: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    rank: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MemoryRepository(Generic[RowT]):
    """``CatalogRepository``'s surface over a dict of dataclass rows (by default the lanes')."""

    def __init__(
        self,
        row: type[RowT] = LaneRow,  # type: ignore[assignment]
        *,
        what: str = "lane",
        order: Sequence[str] = ("tier", "rank", "name"),
    ) -> None:
        self.row = row
        self.what = what
        self.order = tuple(order)
        self.saved: dict[str, RowT] = {}

    def columns(self) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(self.row))

    async def lock(self, key: str) -> None:
        pass

    async def get(self, name: str, *, lock: bool = False) -> RowT | None:
        return self.saved.get(name)

    async def found(self, name: str, *, lock: bool = False) -> RowT:
        if name not in self.saved:
            raise NotFound(f"There is no {self.what} {name!r}.", name=name)
        return self.saved[name]

    async def rows(self, where: Mapping[str, Any] | None = None) -> list[RowT]:
        rows = [r for r in self.saved.values() if all(getattr(r, k) == v for k, v in (where or {}).items())]
        return sorted(rows, key=lambda r: tuple(getattr(r, c) for c in self.order))

    def add(self, row: RowT) -> None:
        self.saved[row.name] = row

    async def remove(self, row: RowT) -> None:
        del self.saved[row.name]

    async def flush(self) -> None:
        pass

    def expire_all(self) -> None:
        pass

    async def upsert(self, name: str, values: Mapping[str, Any], *, on_insert: Mapping[str, Any]) -> None:
        # like the real INSERT … ON CONFLICT, the row it would make is whole even when the name exists
        made = self.row(name=name, **on_insert, **values)
        row = self.saved.get(name)
        if row is None:
            self.saved[name] = made
        else:
            for key, value in values.items():
                setattr(row, key, value)

    async def insert_new(self, name: str, values: Mapping[str, Any]) -> bool:
        if name in self.saved:
            return False
        self.saved[name] = self.row(name=name, **values)
        return True
