"""How the consumer tells failures apart: the event's fault, the dependencies', or a lost race.

- deterministic: fails the same way every time; dead-lettered at once.
- transient: the database or Kafka is away (a connection failure, or PostgreSQL saying it
  cannot serve now: starting up, shutting down, too many clients); the batch is rolled back
  and fetched again later.
- conflict: PostgreSQL chose the batch's transaction as a deadlock or serialization victim
  (replicas' handlers take advisory locks held until the batch commits); the batch is rolled
  back and fetched again at once.
- anything else: retried alone a few times, then dead-lettered.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tierline_shared.errors import DomainError

# SQLSTATEs of a database that cannot serve now: class 08 (connection exception), 57P01-57P03
# (admin shutdown, crash shutdown, cannot connect now: starting up or shutting down), 53300 (too
# many connections).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EADDRNOTAVAIL,
    }
)
# deadlock_detected, serialization_failure: the transaction lost a race, not the event's fault
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_deterministic(exc: BaseException) -> bool:
    """Fails the same way every time: a domain rule, a contract violation, data PostgreSQL refuses."""
    return isinstance(exc, DomainError | ValidationError | DataError)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not is_deterministic(exc)


def is_transient(exc: BaseException) -> bool:
    """The database or the network is away; the event itself is fine."""
    return _away(exc) or any(_is_unavailable_cause(cause) for cause in _causes(exc))


def _away(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError | KafkaError
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """The database is away (down, restarting, refusing connections): a retry later may succeed.

    Not a file error or a bug that happens to raise ``OSError``: only connection failures,
    the pool's timeout, and PostgreSQL's own "cannot serve you now" SQLSTATEs.
    """
    if isinstance(exc, SQLAlchemyError) and _away(exc):
        return True  # a connection invalidated by a disconnect, the pool's timeout, an operational error
    return any(_is_unavailable_cause(cause) for cause in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: a DB-API error's ``orig``, then each explicit ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 10:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None) if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _is_unavailable_cause(exc: BaseException) -> bool:
    code = getattr(exc, "sqlstate", None)
    if isinstance(code, str) and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
        return True
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def outage_cause(exc: BaseException) -> str:
    """The innermost cause, type and first line of its message, for a short log line."""
    *_, cause = _causes(exc)
    message = str(cause).splitlines()[0] if str(cause) else ""
    return f"{type(cause).__name__}: {message[:200]}"


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE 40P01 / 40001): the whole transaction must go again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is None:  # the driver's own exception, under the DB-API one
        code = getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code in _CONFLICT_SQLSTATES
