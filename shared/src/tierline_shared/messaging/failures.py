"""How the consumer tells failures apart: the event's fault, the dependencies', or a lost race.

- deterministic: fails the same way every time; dead-lettered at once.
- transient: the database or Kafka is away; the batch is rolled back and fetched again later.
- conflict: PostgreSQL chose the batch's transaction as a deadlock or serialization victim
  (replicas' handlers take advisory locks held until the batch commits); the batch is rolled
  back and fetched again at once.
- anything else: retried alone a few times, then dead-lettered.
"""

from __future__ import annotations

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tierline_shared.errors import DomainError

# deadlock_detected, serialization_failure: the transaction lost a race, not the event's fault
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_deterministic(exc: BaseException) -> bool:
    """Fails the same way every time: a domain rule, a contract violation, data PostgreSQL refuses."""
    return isinstance(exc, DomainError | ValidationError | DataError)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not is_deterministic(exc)


def is_transient(exc: BaseException) -> bool:
    """The database or the network is away; the event itself is fine."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError | KafkaError
    )


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE 40P01 / 40001): the whole transaction must go again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is None:  # the driver's own exception, under the DB-API one
        code = getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code in _CONFLICT_SQLSTATES
