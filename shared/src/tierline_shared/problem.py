"""RFC 9457 problem details: the one way any Tierline service reports an error."""

from __future__ import annotations

import json
import math
import sys
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
# FastAPI's 400 when reading a JSON body fails with anything but a JSONDecodeError (its cause is chained):
# bytes that are not UTF-8, nesting past the recursion limit, an integer of more digits than Python converts.
UNPARSABLE_BODY = "There was an error parsing the body"
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


def _validation_errors(exc: RequestValidationError, body: bytes | None) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            detail = str((err.get("ctx") or {}).get("error", "invalid JSON"))
            if "number out of range" in detail:  # pydantic's own parser: name the number's field
                errors.extend(_numbers_out_of_range(body))
                continue
            if "recursion limit" in detail:  # pydantic's own parser (model_validate_json) stops at 200 levels
                detail = f"arrays or objects are nested too deeply to read ({detail})"
            at = f" at position {where}" if isinstance(where, int) else ""
            errors.append({"field": "body", "reason": f"JSON decode error{at}: {detail}"})
            continue
        loc = tuple(err.get("loc", ()))
        where = (err.get("ctx") or {}).get("where") if err.get("type") == "unstorable_text" else None
        if isinstance(where, str):  # StorableModel refuses the whole model, saying where: name that field
            loc = (*(loc or ("body",)), *(part for part in where.split("/") if part))
        field, pointer = _pointer(loc)
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
        errors = _validation_errors(exc, _read_body(request))
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
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
        if errors := _unreadable_json(exc, _read_body(request)):
            return problem_response(
                422,
                "Malformed JSON",
                "The request body cannot be read as JSON.",
                type_slug="malformed-json",
                instance=request.url.path,
                errors=errors,
            )
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
        errors = _nul_strings(_read_body(request)) or [
            {"field": "body", "reason": "contains a character that cannot be stored"}
        ]
        return problem_response(
            422,
            "Your request is not valid",
            "A value cannot be stored (text must not contain NUL or other unsupported characters).",
            type_slug="validation-error",
            instance=request.url.path,
            errors=errors,
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


def _read_body(request: Request) -> bytes | None:
    """The body already read for this request (Starlette keeps it on the Request), else None: reading
    it now could wait for a client that has sent everything."""
    body = vars(request).get("_body")
    return body if isinstance(body, bytes) else None


class _OutOfRange:
    """Stands for a number literal no parser reads: an integer of more digits than Python converts
    (sys.get_int_max_str_digits), or a float beyond the double range."""


def _unreadable_json(exc: StarletteHTTPException, body: bytes | None) -> list[dict[str, Any]]:
    """Field errors for a JSON body json.loads could not read (the cause of FastAPI's 400); [] for
    any other HTTP error, or a cause none of the known ones."""
    cause = exc.__cause__
    if exc.status_code != 400 or exc.detail != UNPARSABLE_BODY or cause is None:
        return []
    if isinstance(cause, UnicodeDecodeError):
        return [{"field": "body", "reason": f"is not valid UTF-8 text (byte {cause.start})"}]
    if isinstance(cause, RecursionError):
        return [{"field": "body", "reason": "arrays or objects are nested too deeply to read"}]
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return _numbers_out_of_range(body)
    return []


def _numbers_out_of_range(body: bytes | None) -> list[dict[str, Any]]:
    """Field errors naming each number of a JSON body too large to read (the body if none is found)."""
    reason = f"is a number out of range (integers: at most {sys.get_int_max_str_digits()} digits)"

    def parse_int(text: str) -> Any:
        return _OutOfRange() if len(text.lstrip("-")) > sys.get_int_max_str_digits() else int(text)

    def parse_float(text: str) -> Any:
        value = float(text)
        return value if math.isfinite(value) else _OutOfRange()

    try:
        doc = json.loads(body or b"", parse_int=parse_int, parse_float=parse_float)
    except (ValueError, RecursionError):
        return [{"field": "body", "reason": reason}]
    found = _paths(doc, lambda v: isinstance(v, _OutOfRange))
    return [_field_error(path, reason) for path in found] or [{"field": "body", "reason": reason}]


def _nul_strings(body: bytes | None) -> list[dict[str, Any]]:
    """Field errors naming each string of a JSON body that holds a NUL (which PostgreSQL cannot store)."""
    if not body or b"\\u0000" not in body:
        return []
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []
    found = _paths(doc, lambda v: isinstance(v, str) and "\x00" in v, keys=True)
    return [_field_error(path, "contains a NUL character, which cannot be stored") for path in found]


def _paths(doc: Any, match: Any, *, keys: bool = False) -> list[tuple[Any, ...]]:
    """Paths (keys and indexes) to the values of a decoded JSON document ``match`` holds for, and with
    ``keys`` to the objects whose member names it holds for. Iterative: the document may be deep."""
    found: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        if match(value):
            found.append(path)
        elif isinstance(value, dict):
            if keys and any(match(k) for k in value):
                found.append(path)
            stack.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
    return found


def _field_error(path: tuple[Any, ...], reason: str) -> dict[str, Any]:
    if not path:
        return {"field": "body", "reason": reason}
    field, pointer = _pointer(("body", *path))
    return {"field": field, "reason": reason, "pointer": pointer}


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
