"""Errors a client can act on. Pure: domain code raises these; the HTTP edge maps them."""

from __future__ import annotations

from typing import Any

RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "headers"})


class DomainError(Exception):
    """Base of errors a client can act on; subclasses set the HTTP status and type."""

    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any) -> None:
        clash = RESERVED_MEMBERS & extensions.keys()
        if clash:  # a programming error: these members belong to RFC 9457 itself
            raise TypeError(f"problem extensions may not be named {sorted(clash)}")
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class NotFound(DomainError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class AlreadyExists(Conflict):
    type_slug = "already-exists"
    title = "A resource with this name exists"


class IncompleteConfiguration(Conflict):
    """A configuration change that would leave some incidents with nowhere to go or no target."""

    type_slug = "incomplete-configuration"
    title = "The change would leave the configuration incomplete"


class Unauthorized(DomainError):
    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"


class InvalidInput(DomainError):
    status = 422
    type_slug = "validation-error"
    title = "Your request is not valid"


class Forbidden(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class TooManyRequests(DomainError):
    status = 429
    type_slug = "rate-limited"
    title = "Too many requests"


class PayloadTooLarge(DomainError):
    status = 413
    type_slug = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaType(DomainError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "The body is not in a media type this endpoint reads"
