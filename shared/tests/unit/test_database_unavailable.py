"""Which failures mean "the database is away, retry later": a 503 with Retry-After, not a 500."""

from __future__ import annotations

import errno
import socket

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tierline_shared.messaging.failures import is_database_unavailable, is_transient, outage_cause
from tierline_shared.problem import PROBLEM_JSON, RETRY_AFTER_SECONDS, install_problem_handlers

_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def _wrapped(driver_error: Exception, *, invalidated: bool = False) -> DBAPIError:
    """asyncpg's error as the dialect raises it: under a DB-API error (``orig``), under SQLAlchemy's."""
    mapping = _DBAPI._asyncpg_error_translate
    kind = next(kind for kind in type(driver_error).__mro__ if kind in mapping)
    translated = mapping[kind](driver_error.args[0], driver_error)
    translated.__cause__ = driver_error
    wrapped = DBAPIError.instance(
        "SELECT 1", None, translated, _DBAPI.Error, connection_invalidated=invalidated
    )
    wrapped.__cause__ = translated
    return wrapped


UNAVAILABLE = {
    "starting up (57P03)": _wrapped(asyncpg.CannotConnectNowError("the database system is starting up")),
    "admin shutdown (57P01)": _wrapped(asyncpg.AdminShutdownError("terminating connection")),
    "crash shutdown (57P02)": _wrapped(asyncpg.CrashShutdownError("terminating connection")),
    "too many clients (53300)": _wrapped(asyncpg.TooManyConnectionsError("sorry, too many clients")),
    "connection lost (08003)": _wrapped(asyncpg.ConnectionDoesNotExistError("connection was closed")),
    "invalidated connection": _wrapped(asyncpg.InterfaceError("connection is closed"), invalidated=True),
    "pool timeout": PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
    "refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5432)"),
    "host unreachable": OSError(errno.EHOSTUNREACH, "No route to host"),
    "name not found": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    "connect timeout": TimeoutError(),
}
NOT_UNAVAILABLE = {
    "unique violation": _wrapped(asyncpg.UniqueViolationError("duplicate key")),
    "undefined table": _wrapped(asyncpg.UndefinedTableError('relation "x" does not exist')),
    "NUL in text (22021)": _wrapped(asyncpg.CharacterNotInRepertoireError("invalid byte sequence")),
    "missing file": FileNotFoundError(errno.ENOENT, "No such file or directory"),
    "permission": PermissionError(errno.EACCES, "Permission denied"),
    "a bug": RuntimeError("boom"),
}


@pytest.mark.parametrize("failure", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_connection_failures_mean_the_database_is_unavailable(failure: Exception) -> None:
    assert is_database_unavailable(failure)
    assert is_transient(failure)  # a consumer's batch waits and goes again: nothing dead-lettered


@pytest.mark.parametrize("failure", NOT_UNAVAILABLE.values(), ids=NOT_UNAVAILABLE.keys())
def test_other_failures_are_not_an_outage(failure: Exception) -> None:
    assert not is_database_unavailable(failure)


def test_the_cause_named_in_the_log_is_the_driver_s_without_sql() -> None:
    cause = outage_cause(UNAVAILABLE["starting up (57P03)"])
    assert cause == "CannotConnectNowError: the database system is starting up"


def _client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    failures = {**UNAVAILABLE, **NOT_UNAVAILABLE}

    @app.get("/fail/{name}")
    async def fail(name: str) -> None:
        raise failures[name]

    # raise_server_exceptions: an error Starlette re-raises (the server logs its traceback) fails here
    return TestClient(app)


@pytest.mark.parametrize("name", UNAVAILABLE.keys())
def test_an_outage_is_a_503_problem_with_retry_after(name: str) -> None:
    response = _client().get(f"/fail/{name}")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.json()["type"] == "https://tierline.dev/problems/database-unavailable"
    assert "SELECT" not in response.text and "asyncpg" not in response.text


def test_other_database_and_os_errors_keep_their_answers() -> None:
    client = TestClient(_client().app, raise_server_exceptions=False)
    assert client.get("/fail/NUL in text (22021)").status_code == 422
    for name in ("unique violation", "undefined table", "missing file", "permission", "a bug"):
        response = client.get(f"/fail/{name}")
        assert response.status_code == 500, name
        assert "retry-after" not in response.headers
