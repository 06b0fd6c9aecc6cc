"""RFC 9457 problem details: the one way any Tierline service reports an error."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierline_shared.errors import Conflict, DomainError, InvalidInput, NotFound, Unauthorized
from tierline_shared.logging import get_logger
from tierline_shared.messaging.failures import is_database_unavailable, outage_cause

__all__ = ["Conflict", "DomainError", "InvalidInput", "NotFound", "Unauthorized", "install_problem_handlers"]

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5  # what a 503 tells clients to wait while the database is away
_log = get_logger(__name__)


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_slug: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_slug if type_slug == "about:blank" else f"https://tierline.dev/problems/{type_slug}",
        "title": title,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _pointer(loc: tuple[Any, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (field name, JSON pointer into the body)."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "query", "path", "header") else "body"
    field = ".".join(str(p) for p in parts) or where
    pointer = "/" + "/".join(str(p) for p in parts) if where == "body" else ""
    return field, pointer


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            detail = (err.get("ctx") or {}).get("error", "invalid JSON")
            errors.append({"field": "body", "reason": f"JSON decode error at position {where}: {detail}"})
            continue
        field, pointer = _pointer(tuple(err.get("loc", ())))
        item: dict[str, Any] = {"field": field, "reason": err.get("msg", "invalid")}
        if pointer:
            item["pointer"] = pointer
        if err.get("loc") and err["loc"][0] in ("query", "path", "header"):
            item["in"] = err["loc"][0]
        errors.append(item)
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Map validation, HTTP, domain, database-outage and unexpected errors to problem+json."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e.get("reason", "").startswith("JSON decode error") for e in errors):
            return problem_response(
                422,
                "Malformed JSON",
                "The request body is not valid JSON.",
                type_slug="malformed-json",
                instance=request.url.path,
                errors=errors,
            )
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            "Your request is not valid",
            f"Invalid field(s): {fields}",
            type_slug="validation-error",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_slug=exc.type_slug,
            instance=request.url.path,
            headers=exc.headers or None,
            **exc.extensions,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            exc.status_code,
            _reason(exc.status_code),
            detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    async def _dependency(request: Request, exc: Exception) -> JSONResponse:
        if is_database_unavailable(exc):
            # an outage, not a bug: no traceback, and the client is told to come back
            _log.warning(
                "database_unavailable",
                path=request.url.path,
                error=type(exc).__name__,
                cause=outage_cause(exc),
            )
            return problem_response(
                503,
                "Service unavailable",
                "The database is not reachable right now; retry in a few seconds.",
                type_slug="database-unavailable",
                instance=request.url.path,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
        if not (isinstance(exc, DataError) or (isinstance(exc, DBAPIError) and sqlstate.startswith("22"))):
            return await _unexpected(request, exc)
        # PostgreSQL refused a value the schema let through (SQLSTATE class 22, data exception).
        _log.warning("data_refused_by_database", path=request.url.path, sqlstate=sqlstate)
        return problem_response(
            422,
            "Your request is not valid",
            "A value cannot be stored (text must not contain NUL or other unsupported characters).",
            type_slug="validation-error",
            instance=request.url.path,
            errors=[{"field": "body", "reason": "contains a character that cannot be stored"}],
        )

    # Specific classes, not only Exception: Starlette re-raises what the catch-all handler answers,
    # and the server then logs a traceback for every request refused during an outage.
    for failure in (SQLAlchemyError, OSError):  # the driver's own errors come wrapped in SQLAlchemy's
        app.add_exception_handler(failure, _dependency)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled_error", path=request.url.path)
        return problem_response(
            500,
            "Internal error",
            "The server could not complete the request; it has been logged.",
            instance=request.url.path,
        )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
