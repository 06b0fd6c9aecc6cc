"""What a process builds from configuration rows once per version of them, kept while it is current.

A configuration catalog changes only through the admin API or the policy file, on any replica; a
trigger gives it a new, never reused version in the changing transaction. A use case reads that
version (one cheap query) and takes the catalog built at it, or builds it once from the rows. What
is kept must be immutable: frozen models in tuples and read-only mappings.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class ByVersion(Generic[T]):
    """The last ``keep`` values built, by the version they were built at (several databases may share
    a process, as in tests)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self.builds = 0
        self._built: OrderedDict[uuid.UUID, T] = OrderedDict()

    async def get(self, version: uuid.UUID, build: Callable[[], Awaitable[T]]) -> T:
        if version in self._built:
            self._built.move_to_end(version)
            return self._built[version]
        value = await build()
        self.builds += 1
        self._built[version] = value
        while len(self._built) > self.keep:
            self._built.popitem(last=False)
        return value


class Versioned(Generic[T]):
    """A catalog as a transaction sees it, built from its rows once per version of them.

    ``version`` selects the version the triggers keep; it is read first (after the session's
    pending changes are flushed), so a catalog is never kept under a version older than the rows
    it was built from. Without a version row there is nothing to trust: built every time.
    """

    def __init__(self, version: Select[Any], build: Callable[[AsyncSession], Awaitable[T]]) -> None:
        self._version = version
        self._build = build
        self.built: ByVersion[T] = ByVersion()  # per process, shared by every transaction

    async def current(self, session: AsyncSession) -> T:
        version = await session.scalar(self._version)
        if version is None:
            return await self._build(session)
        return await self.built.get(version, lambda: self._build(session))
