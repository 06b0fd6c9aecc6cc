"""Request limits as ASGI middleware: a body over the limit, header fields too many or too large, or
a URL whose decoded path or query is not UTF-8 text or holds a NUL, is refused before the app sees it.

The body is read (up to the limit) before the app runs, so chunked uploads without a
Content-Length are caught too; the app then receives the same bytes as usual.

Starlette decodes the path and query with errors="replace", so bytes that are not UTF-8 would
reach the app as U+FFFD and a filter would silently match nothing; a NUL would reach PostgreSQL,
which cannot store it. Both are refused here with a 422 naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierline_shared.problem import problem_response

# uvicorn's h11 parser bounds only a header block that arrives in several reads (16 KiB); one read
# takes up to 256 KiB on loopback. Beyond these the request is refused with 431 problem+json.
MAX_HEADER_BYTES = 32 * 1024  # names and values together, like nginx's default 4 x 8 KiB buffers
MAX_HEADER_FIELDS = 128


class BodySizeLimit:
    """Bodies up to ``max_bytes``; a path matching one of ``larger`` (regex, bytes) takes that limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(pattern), limit) for pattern, limit in larger]

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (too_many := header_excess(scope.get("headers") or [])):
            response = problem_response(
                431,
                "Request header fields too large",
                too_many,
                type_slug="headers-too-large",
                instance=scope.get("path"),
                max_header_bytes=MAX_HEADER_BYTES,
                max_header_fields=MAX_HEADER_FIELDS,
            )
            await response(scope, _disconnected, send)
            return
        if scope["type"] == "http" and (errors := url_text_errors(scope)):
            fields = ", ".join(sorted({e["field"] for e in errors}))
            response = problem_response(
                422,
                "Your request is not valid",
                f"Invalid field(s): {fields}",
                type_slug="validation-error",
                instance=scope.get("path"),
                errors=errors,
            )
            await response(scope, _disconnected, send)
            return
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            "Request body too large",
            f"Request bodies are limited to {limit} bytes.",
            type_slug="payload-too-large",
            instance=scope.get("path"),
            max_bytes=limit,
        )
        await response(scope, _disconnected, send)


def header_excess(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why the request's headers are too many or too large; None when they are not."""
    if len(headers) > MAX_HEADER_FIELDS:
        return f"{len(headers)} header fields; at most {MAX_HEADER_FIELDS} are read."
    size = sum(len(name) + len(value) for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return f"{size} bytes of header fields; at most {MAX_HEADER_BYTES} are read."
    return None


def url_text_errors(scope: Scope) -> list[dict[str, Any]]:
    """Field errors for a path or query parameter (name or value) that, percent-decoded, is not UTF-8
    or holds a NUL. Plain ASCII without "%" (nearly every request) is not looked at further."""
    errors: list[dict[str, Any]] = []
    raw_path: bytes = scope.get("raw_path") or scope.get("path", "").encode()
    if _suspicious(raw_path) and (reason := _text_problem(unquote_to_bytes(raw_path))):
        errors.append({"field": "path", "reason": reason, "in": "path"})
    query: bytes = scope.get("query_string") or b""
    if not _suspicious(query):
        return errors
    seen: set[str] = set()
    for pair in query.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (raw_name, raw_value))
        reason = _text_problem(name) or _text_problem(value)
        field = name.decode("utf-8", errors="replace")
        if reason and field not in seen:
            seen.add(field)
            errors.append({"field": field, "reason": reason, "in": "query"})
    return errors


def _suspicious(raw: bytes) -> bool:
    return b"%" in raw or b"\x00" in raw or not raw.isascii()


def _text_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not valid UTF-8 text (byte {exc.start} once percent-decoded)"
    return "contains a NUL character" if "\x00" in text else None


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
