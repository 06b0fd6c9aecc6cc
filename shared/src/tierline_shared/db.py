"""Async SQLAlchemy engine and session helpers shared by every service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, MetaData, event, func, select, text
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
    # (vendor secrets, reporters' personal data), only the SQL. No pre-ping: a round trip on
    # every checkout cost a tenth of a POST; after a database restart the first statement on a
    # stale connection fails instead, SQLAlchemy then drops the whole pool, and the caller sees a
    # transient error (a 503 with Retry-After, or a consumer batch fetched again).
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
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
    stage(session, _ON_COMMIT, action)


def stage(session: AsyncSession, name: str, item: object) -> None:
    """Keep ``item`` under ``name`` for the rest of the session's transaction (``take_staged``).

    Like ``on_commit``'s actions, an item staged inside a savepoint is dropped when that savepoint
    rolls back, and every item when the transaction does.
    """
    sync = session.sync_session
    sync.info.setdefault(_STAGED + name, []).append((sync.get_nested_transaction(), item))


def take_staged(session: AsyncSession, name: str) -> list[Any]:
    """The items staged under ``name`` still standing, in staging order; none are kept after."""
    return [item for _, item in session.sync_session.info.pop(_STAGED + name, [])]


def staged(session: AsyncSession, name: str) -> list[Any]:
    """The items staged under ``name`` still standing, left in place."""
    return [item for _, item in session.sync_session.info.get(_STAGED + name, ())]


async def advisory_xact_lock(session: AsyncSession, key: str) -> None:
    """Hold a PostgreSQL advisory lock named ``key`` until the transaction ends.

    A lock this transaction already holds costs no round trip (a batch of events for one
    incident, or a batch that locked its keys up front with ``advisory_xact_locks``).
    """
    if key in staged(session, _LOCKS):
        return
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    stage(session, _LOCKS, key)  # held until the transaction ends, or the savepoint taking it rolls back


async def advisory_xact_locks(session: AsyncSession, keys: Iterable[str]) -> None:
    """Hold several advisory locks in one statement, taken in sorted order.

    Two transactions locking overlapping sets this way take the common keys in the same
    order, so they queue instead of deadlocking.
    """
    held = set(staged(session, _LOCKS))
    todo = sorted({key for key in keys if key not in held})
    if not todo:
        return
    await session.execute(_LOCK_MANY, {"keys": todo})
    for key in todo:
        stage(session, _LOCKS, key)


_STAGED = "tierline.staged."  # the prefix of every ``stage`` key in session.info: what a rollback drops
_ON_COMMIT = "on_commit"
_LOCKS = "advisory_locks"
_LOCK_MANY = text(  # a function scan yields the array's elements in order
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest(CAST(:keys AS text[])) AS key"
)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    session.info.pop(_STAGED + _LOCKS, None)  # released with the transaction: the next one takes them anew
    for _, action in session.info.pop(_STAGED + _ON_COMMIT, []):
        action()


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    for key in [k for k in session.info if isinstance(k, str) and k.startswith(_STAGED)]:
        if not previous_transaction.nested:
            session.info.pop(key)  # the whole transaction is gone
            continue
        session.info[key] = [
            (where, item) for where, item in session.info[key] if not _inside(where, previous_transaction)
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
