"""Async SQLAlchemy engine and session helpers shared by every service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, MetaData, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from tierline_shared.errors import NotFound

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername in ("postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # hide_parameters: a failing statement's error and log lines must not carry the values
    # (vendor secrets, reporters' personal data), only the SQL.
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def on_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction commits; never if it rolls back.

    For effects outside the database, such as metrics, that must not count a retried transaction
    twice. An action staged inside a savepoint is dropped if that savepoint rolls back; the
    actions staged before it stay.
    """
    sync = session.sync_session
    sync.info.setdefault(_ON_COMMIT, []).append((sync.get_nested_transaction(), action))


async def advisory_xact_lock(session: AsyncSession, key: str) -> None:
    """Hold a PostgreSQL advisory lock named ``key`` until the transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


_ON_COMMIT = "tierline.on_commit"


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for _, action in session.info.pop(_ON_COMMIT, []):
        action()


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    staged = session.info.get(_ON_COMMIT)
    if not staged:
        return
    if not previous_transaction.nested:
        session.info.pop(_ON_COMMIT, None)  # the whole transaction is gone
        return
    session.info[_ON_COMMIT] = [
        (where, action) for where, action in staged if not _inside(where, previous_transaction)
    ]


def _inside(transaction: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False


Row = TypeVar("Row")


async def get_or_404(
    session: AsyncSession, model: type[Row], key: object, what: str, *, lock: bool = False
) -> Row:
    """The row with primary key ``key``, optionally locked; NotFound (404) naming ``what`` otherwise."""
    row = await session.get(model, key, with_for_update=lock)
    if row is None:
        raise NotFound(f"There is no {what} {key!r}.", name=str(key))
    return row


class Repository(Generic[Row]):
    """Base of a service's repositories: one row class, read and written in the caller's transaction.

    A subclass names its ``model`` and adds the queries its aggregate needs, returning domain
    objects where the service layer works with them; it never commits (the edge does).
    """

    model: ClassVar[type[Any]]
    what: ClassVar[str] = "resource"  # how a 404 names the thing

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: object, *, lock: bool = False) -> Row | None:
        # None, not False: False makes SQLAlchemy query again for a row the session already holds
        row: Row | None = await self.session.get(self.model, key, with_for_update=lock or None)
        return row

    async def get_or_404(self, key: object, *, lock: bool = False) -> Row:
        """The row with primary key ``key``; NotFound (404) naming it otherwise."""
        row: Row = await get_or_404(self.session, self.model, key, self.what, lock=lock)
        return row

    async def find(self, *where: ColumnElement[bool], order_by: Iterable[Any] = ()) -> list[Row]:
        """Rows matching every condition, in ``order_by`` order."""
        stmt = select(self.model).where(*where).order_by(*order_by)
        return list((await self.session.scalars(stmt)).all())

    def add(self, row: Row) -> None:
        self.session.add(row)

    async def delete(self, row: Row) -> None:
        await self.session.delete(row)

    async def flush(self) -> None:
        await self.session.flush()
