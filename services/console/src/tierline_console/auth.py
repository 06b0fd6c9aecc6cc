"""Sign-in with a personal API key, and sign-out.

``POST /signin`` asks intake who the key is (``GET /v1/access/me``); a key intake does not know
(401) shows the form again with an error, and only a known key gets a session. The key goes into
the sealed session cookie and nowhere else: never into a page, a URL, a readable header or a log.
A page that sent the browser here passes ``next`` (where it was going); the form carries it and a
successful sign-in goes there, when it is a path on this console (``web.local_path``), else to the
L1 board.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console.sessions import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_TTL,
    Identity,
    SigninToken,
    new_session,
    new_token,
    same_token,
)
from tierline_console.upstream import SessionEnded, UpstreamRefused, UpstreamUnavailable
from tierline_console.web import (
    CSRF_FIELD,
    HOME,
    SIGNIN_REASONS,
    ConsoleDep,
    CsrfRefused,
    check_csrf,
    local_path,
    signin_url,
)
from tierline_shared.logging import get_logger

router = APIRouter(include_in_schema=False)
_log = get_logger(__name__)
MAX_KEY_LENGTH = 512


def _signin_page(
    request: Request,
    app: ConsoleDep,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    next_path: str | None = None,
) -> Response:
    """The form, with a fresh pre-session CSRF token in a sealed cookie and in the form, and where to
    go after it (a local path, or none)."""
    now = app.clock.now()
    token = new_token()
    going = local_path(next_path)
    response = app.render(
        request, "signin.html", status=status, csrf_token=token, error=error, notice=notice, next_path=going
    )
    sealed = app.sealer.seal_signin(SigninToken(signin_csrf=token), now)
    app.set_cookie(request, response, SIGNIN_COOKIE, sealed, int(SIGNIN_TTL.total_seconds()))
    return response


@router.get("/signin")
async def signin_form(request: Request, app: ConsoleDep, ended: str | None = None) -> Response:
    going = local_path(request.query_params.get("next"))  # where the page that sent us here was
    if app.sealer.open(request.cookies.get(SESSION_COOKIE), app.clock.now()) is not None:
        return RedirectResponse(going or HOME, status_code=303)
    return _signin_page(request, app, notice=SIGNIN_REASONS.get(ended or ""), next_path=going)


@router.post("/signin")
async def signin(request: Request, app: ConsoleDep) -> Response:
    form = await request.form()
    given, api_key = form.get(CSRF_FIELD), form.get("api_key")
    pre = app.sealer.open_signin(request.cookies.get(SIGNIN_COOKIE), app.clock.now())
    if pre is None or not same_token(pre.signin_csrf, given if isinstance(given, str) else None):
        raise CsrfRefused()
    api_key = api_key.strip() if isinstance(api_key, str) else ""
    given_next = form.get("next")
    going = local_path(given_next if isinstance(given_next, str) else None)
    page = partial(_signin_page, request, app, next_path=going)
    if not api_key:
        return page(status=422, error="Enter your API key.")
    if len(api_key) > MAX_KEY_LENGTH or not api_key.isprintable() or not api_key.isascii():
        return page(status=422, error="This is not an API key.")
    try:
        me = await app.upstreams.get("intake", "/v1/access/me", api_key)
        identity = Identity.model_validate(me)
    except SessionEnded:
        _log.info("signin_refused", reason="unknown_key")
        return page(status=401, error=SIGNIN_REASONS["revoked"])
    except UpstreamRefused as exc:
        return page(status=exc.status, error=exc.message)
    except UpstreamUnavailable as exc:
        return page(status=503, error=f"{exc.message}; try again in a moment.")
    except ValueError:
        _log.warning("signin_identity_unreadable")
        return page(status=502, error="Intake's answer about this key is unreadable.")
    session = new_session(api_key, identity, app.clock.now())
    _log.info("signed_in", key_id=identity.id, name=identity.name, person=identity.person)
    response = RedirectResponse(going or HOME, status_code=303)
    app.set_cookie(
        request,
        response,
        SESSION_COOKIE,
        app.sealer.seal(session, app.clock.now()),
        int(app.sealer.lifetime.total_seconds()),
    )
    app.clear_cookie(request, response, SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request, app: ConsoleDep) -> Response:
    session = app.sealer.open(request.cookies.get(SESSION_COOKIE), app.clock.now())
    if session is not None:
        await check_csrf(request, session)  # no one signs a person out from another site
        _log.info("signed_out", key_id=session.identity.id)
    response = RedirectResponse(signin_url("signedout"), status_code=303)
    app.clear_cookie(request, response, SESSION_COOKIE)
    return response
