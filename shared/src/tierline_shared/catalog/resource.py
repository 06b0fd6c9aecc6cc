"""The use cases every catalog resource shares, over a ``CatalogRepository``.

A resource says what its entries are (``Resource``: the row class, the domain type, how one
maps to the other, how messages name it, whether and where it is ranked); ``Catalog`` binds a
resource to a repository in the caller's transaction and offers the steps each service's use
cases are made of: refuse a taken name, find one, add an entry made through the API (placed
in its match order), replace one (moved when asked), remove one (closing the gap), list
entries with the warnings their place earns, and apply the config file (an upsert of each
declared entry, the file's order for the file's entries and API-made ones kept where they were).

Locks, whole-catalog checks and the work a change moves stay with each service: they differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from tierline_shared import ranking
from tierline_shared.catalog.repository import CatalogRepository
from tierline_shared.errors import AlreadyExists, IncompleteConfiguration

CONFIG, API = "config", "api"  # managed_by: the config file (re-applied at start) or the admin API
Row = TypeVar("Row", bound=Any)
Item = TypeVar("Item", bound=Any)
# A ranked catalog's list an entry is ordered in, as the column values that pick it (e.g. its tier).
Scope = Mapping[str, Any]


def _none(_: Any) -> dict[str, Any]:
    return {}


def refuse(problem: str | None) -> None:
    """IncompleteConfiguration (409) when a change would leave the catalog with ``problem``."""
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")


@dataclass(frozen=True)
class Resource(Generic[Row, Item]):
    """What a catalog's entries are and how they are stored.

    ``columns``: the row's columns written from a domain entry on every change (``spec`` …);
    ``on_create``: those set only when the row is made (runtime state the file never resets).
    A ranked resource (``ranked``) keeps a ``rank`` column, 1, 2, 3 … in each list of entries
    sharing the values of ``scope`` (columns of the row, fields of the entry: a queue's tier; one
    list when there are none); ``universes`` let ``ranking`` judge an entry's reach by its filters.
    """

    row: type[Row]
    what: str  # in messages: "escalation policy"
    article: str  # "an"
    item_of: Callable[[Row], Item]
    columns: Callable[[Item], dict[str, Any]]
    on_create: Callable[[Item], dict[str, Any]] = _none
    ranked: bool = False
    scope_by: tuple[str, ...] = ()
    universes: ranking.Universes = field(default_factory=dict)
    # how a list is named in ranking messages ("L2 queue"); default: ``what``
    kind_in: Callable[[Scope], str] | None = None

    def kind(self, scope: Scope) -> str:
        return self.kind_in(scope) if self.kind_in is not None else self.what

    def scope(self, item: Item) -> dict[str, Any]:
        return {c: getattr(item, c) for c in self.scope_by}

    def row_scope(self, row: Row) -> dict[str, Any]:
        return {c: getattr(row, c) for c in self.scope_by}

    def entry(self, item: Item) -> ranking.Entry:
        return ranking.Entry(item.name, item.filters)

    def exists(self, name: str) -> AlreadyExists:
        return AlreadyExists(f"{self.article.capitalize()} {self.what} named {name!r} exists.", name=name)


@dataclass(frozen=True)
class Listed(Generic[Item]):
    """A catalog entry as its API shows it: the domain entry and what the catalog keeps about it."""

    item: Item
    managed_by: str
    updated_at: datetime
    created_at: datetime | None = None
    rank: int | None = None
    warnings: tuple[ranking.CatalogWarning, ...] = ()


def _key(scope: Scope) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(scope.items()))


class Catalog(Generic[Row, Item]):
    """A resource's use-case steps over its repository, in the caller's transaction."""

    def __init__(self, resource: Resource[Row, Item], repo: CatalogRepository[Row]) -> None:
        self.resource = resource
        self.repo = repo

    # --- reading ----------------------------------------------------------------------------------

    def view(self, row: Row, warnings: tuple[ranking.CatalogWarning, ...] = ()) -> Listed[Item]:
        return Listed(
            item=self.resource.item_of(row),
            managed_by=row.managed_by,
            updated_at=row.updated_at,
            created_at=getattr(row, "created_at", None),
            rank=row.rank if self.resource.ranked else None,
            warnings=warnings,
        )

    async def absent(self, name: str, *, lock: bool = False) -> None:
        """AlreadyExists (409) when an entry is named ``name``."""
        if await self.repo.get(name, lock=lock) is not None:
            raise self.resource.exists(name)

    async def found(self, name: str, *, lock: bool = True) -> Row:
        """The entry's row (locked unless ``lock`` is false); NotFound (404) naming it otherwise."""
        return await self.repo.found(name, lock=lock)

    async def list_all(self, scope: Scope | None = None) -> list[Listed[Item]]:
        """Entries in listing order (match order when ranked, each with the warnings its place earns)."""
        rows = await self.repo.rows(scope)
        if not self.resource.ranked:
            return [self.view(row) for row in rows]
        notes: dict[str, tuple[ranking.CatalogWarning, ...]] = {}
        for each, in_scope in self._by_scope(rows).items():
            entries = [self.resource.entry(self.resource.item_of(r)) for r in in_scope]
            notes |= ranking.review(entries, self.resource.universes, what=self.resource.kind(dict(each)))
        return [self.view(row, notes.get(row.name, ())) for row in rows]

    async def get(self, name: str) -> Listed[Item]:
        """One entry, unlocked (with the warnings its place earns when ranked)."""
        row = await self.found(name, lock=False)
        if not self.resource.ranked:
            return self.view(row)
        return next(e for e in await self.list_all(self.resource.row_scope(row)) if e.item.name == name)

    def _by_scope(self, rows: Iterable[Row]) -> dict[tuple[tuple[str, Any], ...], list[Row]]:
        groups: dict[tuple[tuple[str, Any], ...], list[Row]] = {}
        for row in rows:
            groups.setdefault(_key(self.resource.row_scope(row)), []).append(row)
        return groups

    def warnings(
        self, items: Sequence[Item], name: str, *, is_placed_last: bool
    ) -> tuple[ranking.CatalogWarning, ...]:
        """Warnings for entry ``name`` just written; ``items``: the whole catalog in match order."""
        scope = self.resource.scope(next(i for i in items if i.name == name))
        in_scope = [i for i in items if self.resource.scope(i) == scope]
        return ranking.placement_warnings(
            [self.resource.entry(i) for i in in_scope],
            name,
            self.resource.universes,
            what=self.resource.kind(scope),
            is_placed_last=is_placed_last,
        )

    # --- writing through the API -------------------------------------------------------------------

    async def add(self, item: Item, now: datetime, placement: ranking.Placement | None = None) -> Row:
        """Make the entry (managed by the API), placed in its match order when ranked (unsaid: last)."""
        values = {**self.resource.columns(item), **self.resource.on_create(item)}
        row: Row = self.repo.row(name=item.name, managed_by=API, **values, **self._stamps(now, made=True))
        if not self.resource.ranked:
            self.repo.add(row)
            return row
        in_scope, order = await self._placed(self.resource.scope(item), item.name, placement)
        row.rank = 0
        self.repo.add(row)
        ranking.renumber([*in_scope, row], order)
        return row

    async def add_new(self, item: Item, now: datetime) -> None:
        """Make an unranked entry (managed by the API) in one statement; AlreadyExists (409) when the
        name is taken, by a request a moment ago too (no unique violation to retry)."""
        values = {**self.resource.columns(item), **self.resource.on_create(item)}
        made = await self.repo.insert_new(
            item.name, {"managed_by": API, **values, **self._stamps(now, made=True)}
        )
        if not made:
            raise self.resource.exists(item.name)

    async def replace(
        self, row: Row, item: Item, now: datetime, placement: ranking.Placement | None = None
    ) -> bool:
        """Write ``item`` on its row; when ranked, move it where ``placement`` says (unsaid: it keeps
        its rank, or goes last in another scope's list). True when it moved to another list."""
        if not self.resource.ranked:
            self._write(row, item, now)
            return False
        old, new = self.resource.row_scope(row), self.resource.scope(item)
        is_moved = old != new
        in_scope, order = await self._placed(new, item.name, placement)
        left = [r for r in await self.repo.rows(old) if r.name != row.name] if is_moved else []
        self._write(row, item, now)
        ranking.renumber([*in_scope, row] if is_moved else in_scope, order)
        ranking.renumber(left, [r.name for r in left])
        return is_moved

    async def remove(self, row: Row) -> None:
        """Delete the entry; a ranked catalog's list closes the gap."""
        left = (
            [r for r in await self.repo.rows(self.resource.row_scope(row)) if r.name != row.name]
            if self.resource.ranked
            else []
        )
        await self.repo.remove(row)
        ranking.renumber(left, [r.name for r in left])

    async def _placed(
        self, scope: Scope, name: str, placement: ranking.Placement | None
    ) -> tuple[list[Row], list[str]]:
        """The rows of ``scope``'s list, and its order with ``name`` where ``placement`` says (unsaid:
        where it is, or last)."""
        in_scope = await self.repo.rows(scope)
        names = [r.name for r in in_scope]
        order = ranking.place(names, name, placement or ranking.Placement(), what=self.resource.kind(scope))
        return in_scope, order

    def _write(self, row: Row, item: Item, now: datetime) -> None:
        for column, value in {**self.resource.columns(item), "updated_at": now}.items():
            setattr(row, column, value)

    def _stamps(self, now: datetime, *, made: bool) -> dict[str, datetime]:
        stamps = {"updated_at": now}
        if made and "created_at" in self.repo.columns():
            stamps["created_at"] = now
        return stamps

    # --- the config file ---------------------------------------------------------------------------

    async def apply_config(self, items: Sequence[Item], now: datetime) -> None:
        """Make the table hold the file's entries (managed by the file); those made through the API stay.

        Ranked, the file's entries take the file's order and the others keep their place relative
        to them (``ranking.reapply``), in each list; an entry the file moves to another list joins
        the file's order there.
        """
        before = await self.orders() if self.resource.ranked else {}
        for item in items:
            values = {**self.resource.columns(item), "managed_by": CONFIG, "updated_at": now}
            on_insert: dict[str, Any] = {**self.resource.on_create(item), **self._stamps(now, made=True)}
            on_insert.pop("updated_at")
            if self.resource.ranked:
                on_insert["rank"] = 0  # until the lists are renumbered below
            await self.repo.upsert(item.name, values, on_insert=on_insert)
        await self.repo.flush()
        self.repo.expire_all()
        if self.resource.ranked:
            await self._reapply(before, items)

    async def orders(self) -> dict[tuple[tuple[str, Any], ...], list[str]]:
        """Each list's names in match order, as they stand."""
        return {k: [r.name for r in rows] for k, rows in self._by_scope(await self.repo.rows()).items()}

    async def _reapply(
        self, before: Mapping[tuple[tuple[str, Any], ...], list[str]], items: Sequence[Item]
    ) -> None:
        declared: dict[tuple[tuple[str, Any], ...], list[str]] = {}
        for item in items:
            declared.setdefault(_key(self.resource.scope(item)), []).append(item.name)
        for key in [*before, *(k for k in declared if k not in before)]:
            elsewhere = {n for k, names in declared.items() if k != key for n in names}
            current = [n for n in before.get(key, []) if n not in elsewhere]
            order = ranking.reapply(current, declared.get(key, []))
            ranking.renumber(await self.repo.rows(dict(key)), order)
