"""The console's composition root: ``create_app(settings)``.

No database: the shared ``create_web_app`` gives it logging, tracing, problem+json, request limits
and metrics, /healthz (the live feed's consumer runs) and offline /docs; this module adds /readyz
(intake and Kafka answer; the other services are reported, not required: a page that needs one says
so itself), security headers, the session renewal, static files, the pages, their error pages (HTML
for browsers, problem+json for API clients) and the live feed (Kafka → ``GET /live``), started and
stopped with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierline_console import (
    __version__,
    admin,
    auth,
    board,
    dashboard,
    incident,
    my_work,
    new_incident,
    pages,
)
from tierline_console.config import Settings
from tierline_console.live import Hub, LiveFeed
from tierline_console.sessions import SESSION_COOKIE, Sealer
from tierline_console.upstream import SessionEnded, UpstreamError, Upstreams, UpstreamUnavailable
from tierline_console.web import (
    CSP,
    SECURITY_HEADERS,
    STATIC,
    Console,
    CsrfRefused,
    SecurityHeaders,
    SessionRenewal,
    SignInRequired,
    environment,
    not_yet_known,
    to_signin,
)
from tierline_shared import tracing
from tierline_shared.clock import Clock, SystemClock
from tierline_shared.logging import configure_logging, get_logger
from tierline_shared.runtime import WebAppSpec, create_web_app

NAME = "console"
_log = get_logger(__name__)
REQUIRED = ("intake",)  # /readyz fails without these (and Kafka); the others are reported


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    live_feed: bool = True,
) -> FastAPI:
    """The console app; ``transport`` replaces the network under the upstream clients and
    ``live_feed=False`` leaves Kafka alone (unit tests: ``/live`` then streams only what they publish)."""
    settings = settings or Settings()
    configure_logging(NAME, settings.log_level)
    tracing.configure(NAME, __version__)

    def upstreams() -> Upstreams:
        return Upstreams(
            settings.upstream_urls(), timeout=settings.upstream_timeout_seconds, transport=transport
        )

    state = Console(
        settings=settings,
        sealer=Sealer(settings.sealing_keys(), settings.session_lifetime(), settings.idle_timeout()),
        upstreams=upstreams(),
        clock=clock or SystemClock(),
        templates=environment(),
        hub=Hub(),
    )
    feed: LiveFeed | None = (
        None
        if not live_feed
        else LiveFeed(
            state.hub,
            settings.kafka_bootstrap_servers,
            topic_prefix=settings.kafka_topic_prefix,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.upstreams = upstreams()  # fresh clients each start (tests start an app more than once)
        state.hub = Hub()
        if feed is not None:
            feed.hub = state.hub
            feed.start()  # in the background: pages work while Kafka is away, /readyz says so
        _log.info("service_started", version=__version__, upstreams=settings.upstream_urls())
        try:
            yield
        finally:
            state.hub.close()
            if feed is not None:
                await feed.stop()
            await state.upstreams.aclose()
            _log.info("service_stopped")

    async def healthy(names: list[str]) -> dict[str, bool]:
        answers = await asyncio.gather(*(state.upstreams.healthy(n) for n in names))
        return dict(zip(names, answers, strict=True))

    async def readiness() -> dict[str, bool]:
        """What the console needs to serve pages: intake, and Kafka for the live feed."""
        checks = await healthy([n for n in settings.upstream_urls() if n in REQUIRED])
        if feed is not None:
            checks["kafka"] = await feed.kafka_ready()
        return checks

    async def informational() -> dict[str, bool]:
        """The other upstreams: a page that needs one says so in words when it is away."""
        return await healthy([n for n in settings.upstream_urls() if n not in REQUIRED])

    app = create_web_app(
        WebAppSpec(
            name=NAME,
            version=__version__,
            description="The desk's web pages, over the other services' APIs with the person's own key.",
            max_body_bytes=settings.max_body_bytes,
            alive=feed.alive if feed is not None else lambda: True,
            readiness=readiness,
            readiness_summary=READINESS_SUMMARY,
            informational=informational,
        ),
        lifespan=lifespan,
    )
    app.state.console = state
    app.state.live_feed = feed
    app.add_middleware(SessionRenewal)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(board.router)
    app.include_router(new_incident.router)  # before incident: /incidents/new is not an incident id
    app.include_router(incident.router)
    app.include_router(my_work.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    app.include_router(pages.router)
    install_page_errors(app, state)
    return app


READINESS_SUMMARY = (
    "Readiness: intake and Kafka answer; the other services' /healthz are reported in `upstreams` "
    "and do not fail it"
)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") or request.headers.get("HX-Request") == "true"


async def _delegate(handler: Any, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    found: Response = await answer if inspect.isawaitable(answer) else answer
    return found


def install_page_errors(app: FastAPI, state: Console) -> None:
    """Errors of pages as pages: sign in again, 403 for CSRF, the upstream's refusal in words, and
    404/422/500 as the console's error page for a browser (API clients keep problem+json)."""
    problem_handler = app.exception_handlers[StarletteHTTPException]
    validation_handler = app.exception_handlers[RequestValidationError]
    unexpected_handler = app.exception_handlers[Exception]

    def _page(request: Request, status: int, title: str, message: str, errors: list[str]) -> Response:
        session = state.sealer.open(request.cookies.get(SESSION_COOKIE), state.clock.now())
        return state.render(
            request, "error.html", session=session, status=status, title=title, message=message, errors=errors
        )

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired) -> Response:
        return to_signin(request, exc.reason)

    @app.exception_handler(SessionEnded)
    async def _ended(request: Request, exc: SessionEnded) -> Response:
        if exc.upstream != "intake":  # the others learn keys from Kafka, a little after intake
            _log.info("key_not_yet_known", upstream=exc.upstream)
            return _page(request, 503, "Not available yet", not_yet_known(exc.upstream), [])
        _log.info("session_ended", upstream=exc.upstream, reason="key_refused")
        return to_signin(request, "revoked")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        _log.warning("csrf_refused", path=request.url.path)
        return _page(
            request,
            403,
            "Forbidden",
            "This form did not come from a current console page (its CSRF token is missing or wrong). "
            "Reload the page and try again.",
            [],
        )

    @app.exception_handler(UpstreamError)
    async def _upstream(request: Request, exc: UpstreamError) -> Response:
        status = exc.status if isinstance(exc, UpstreamUnavailable) or exc.status < 500 else 502
        return _page(
            request,
            status,
            f"{exc.upstream} refused" if status < 500 else "Not available",
            exc.message,
            exc.errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_html(request):
            return await _delegate(problem_handler, request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else ""
        titles = {404: "Not found", 405: "Not allowed"}
        return _page(request, exc.status_code, titles.get(exc.status_code, "Error"), detail, [])

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _wants_html(request):
            return await _delegate(validation_handler, request, exc)
        problems = [e for e in exc.errors() if isinstance(e, dict)]
        reasons = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in problems
        ]
        if problems and all(e.get("loc", ("",))[0] == "path" for e in problems):
            # a malformed id in the address is a page that does not exist, e.g. /incidents/not-a-uuid
            return _page(request, 404, "Not found", "No page has this address.", reasons)
        return _page(request, 422, "Not valid", "The request is not valid.", reasons)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if not _wants_html(request):
            return await _delegate(unexpected_handler, request, exc)
        _log.error("unhandled_error", path=request.url.path, exc_info=exc)
        message = (
            "Something went wrong on the console's side; it has been logged. Reload the page to try again."
        )
        response = state.render(
            request, "error.html", session=None, status=500, title="Error", message=message, errors=[]
        )
        # Starlette answers this outside the other middleware: the headers they would add, here
        response.headers.update(
            {"Content-Security-Policy": CSP, "Cache-Control": "no-store", **SECURITY_HEADERS}
        )
        return response
