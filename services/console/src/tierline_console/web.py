"""What every page shares: templates, security headers, the session of a request, CSRF, errors.

Pages get the signed-in person with ``SessionDep``; without a (valid) session they are sent to
sign in. A form posts its ``csrf_token`` field (htmx sends the ``X-CSRF-Token`` header, read from the
page's ``<meta name="csrf-token">``); ``check_csrf`` refuses a mismatch with a 403 page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierline_console.config import Settings
from tierline_console.live import Hub
from tierline_console.sessions import SESSION_COOKIE, Sealer, Session, cookie_is_secure, same_token
from tierline_console.upstream import Upstreams
from tierline_shared.clock import Clock

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Swagger UI and ReDoc (FastAPI's offline /docs) start with an inline script; they show only the
# console's own OpenAPI document, never data from a request or an incident.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
RENEWED_COOKIE = "tierline_renewed_session"  # request.state: the Set-Cookie of a renewed session
TIERS = ("L1", "L2", "L3", "L4")
HOME = "/boards/L1"
MAX_NEXT = 1000  # characters of the path and query a signed-out browser is sent back to

# Why the sign-in page is shown again: a fixed message per reason (never text from the URL).
SIGNIN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "idle": "Your session ended because it was not used for a while. Sign in again.",
    "revoked": "Your API key is no longer valid (revoked or unknown). Sign in with a current key.",
    "signedout": "You have signed out.",
}


class SecurityHeaders:
    """CSP, nosniff, no referrer and no framing on every response; pages are not cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = DOCS_CSP if path in DOCS_PATHS else CSP
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not path.startswith(("/static/", "/docs/assets/")):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class SessionRenewal:
    """Adds a renewed session cookie (set by ``current_session`` on the request's state) to the
    response, unless the response sets or clears that cookie itself (sign-out, a session ended)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                renewed = scope.get("state", {}).get(RENEWED_COOKIE)
                headers = MutableHeaders(scope=message)
                own = any(v.startswith(f"{SESSION_COOKIE}=") for v in headers.getlist("set-cookie"))
                if renewed and not own:
                    headers.append("set-cookie", renewed)
            await send(message)

        await self.app(scope, receive, with_cookie)


def environment() -> jinja2.Environment:
    """Templates autoescaped (whatever their name) and strict: an undefined name is an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class Console:
    """What the pages need, built once per app."""

    settings: Settings
    sealer: Sealer
    upstreams: Upstreams
    clock: Clock
    templates: jinja2.Environment
    hub: Hub = dataclasses.field(default_factory=Hub)  # the live feed's ring and open streams

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: Session | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            request_path=request.url.path, session=session, tiers=TIERS, **context
        )
        return HTMLResponse(html, status_code=status)

    def set_cookie(self, request: Request, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=cookie_is_secure(request.url.scheme, request.url.hostname),
        )

    def clear_cookie(self, request: Request, response: Response, name: str) -> None:
        response.delete_cookie(
            name,
            path="/",
            httponly=True,
            samesite="strict",
            secure=cookie_is_secure(request.url.scheme, request.url.hostname),
        )


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console)]


class SignInRequired(Exception):
    """No session, or one that is no longer valid: the person is sent to sign in (``reason`` says why)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason


class CsrfRefused(Exception):
    """A form or htmx request without the session's CSRF token."""


def signin_url(reason: str | None, next_path: str | None = None) -> str:
    """The sign-in page, saying why (a fixed reason) and where to go after it (a local path)."""
    query = {"ended": reason} if reason in SIGNIN_REASONS else {}
    going = local_path(next_path)
    if going is not None and going != HOME:
        query["next"] = going
    return "/signin" + (f"?{urlencode(query)}" if query else "")


def local_path(value: str | None) -> str | None:
    """``value`` when it is a path on this console ("/incidents/…?tab=…"), else None: it starts with
    one slash (two, or a slash and a backslash, is another host to a browser), has no scheme or host,
    no backslash, space or control character (browsers drop a tab or newline between two slashes)
    and at most ``MAX_NEXT`` characters."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if not (value.isascii() and value.isprintable()) or any(c in value for c in " \\"):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def return_path(request: Request) -> str | None:
    """Where a browser sent to sign in was going: the page it asked for (a GET of a page), or for an
    htmx request the page it is on (``HX-Current-URL``); None for anything else (a form's POST, a
    stream, an API client), which goes to the L1 board after sign-in."""
    if request.headers.get("HX-Request") == "true":
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.netloc and current.netloc != request.url.netloc:
            return None
        found = current.path + (f"?{current.query}" if current.query else "")
    elif request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
        found = path + (f"?{request.url.query}" if request.url.query else "")
    else:
        return None
    return local_path(found)


def to_signin(request: Request, reason: str | None) -> Response:
    """Send the browser to sign in, ending its session; htmx requests are told with HX-Redirect.
    The page it was going to (``return_path``) goes along as ``next``."""
    target = signin_url(reason, return_path(request))
    response: Response
    if request.headers.get("HX-Request") == "true":
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    console(request).clear_cookie(request, response, SESSION_COOKIE)
    return response


async def current_session(request: Request) -> Session:
    """The signed-in person (SignInRequired without a valid session cookie, saying why).

    Once a minute at most, the cookie is re-sealed with the time of this request (``last_seen``)
    for the idle timeout: ``SessionRenewal`` adds it to whatever response the page gives.
    """
    app = console(request)
    now = app.clock.now()
    session, ended = app.sealer.examine(request.cookies.get(SESSION_COOKIE), now)
    if session is None:
        raise SignInRequired(ended)
    if app.sealer.needs_touch(session, now):
        sealed, max_age = app.sealer.touched(session, now)
        carrier = Response()
        app.set_cookie(request, carrier, SESSION_COOKIE, sealed, max_age)
        setattr(request.state, RENEWED_COOKIE, carrier.headers["set-cookie"])
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def check_csrf(request: Request, session: Session) -> None:
    """The request carries the session's CSRF token, as a form field or the X-CSRF-Token header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not same_token(session.csrf_token, given):
        raise CsrfRefused()


async def csrf_checked(request: Request, session: SessionDep) -> Session:
    """A dependency for state-changing routes: the session, once its CSRF token is checked."""
    await check_csrf(request, session)
    return session


CheckedSessionDep = Annotated[Session, Depends(csrf_checked)]


def not_yet_known(upstream: str) -> str:
    """Why a service other than intake refuses a key intake knows: it has not heard of it yet (only
    intake's 401 ends a session; the others learn keys from Kafka a little later)."""
    return (
        f"Your API key is not yet known to {upstream}: the other services learn new keys from intake "
        "a little later. Try again in a moment."
    )
