"""A console app for page tests over stand-in upstreams, and a recorder of what it asked them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, Identity, Session, new_session
from tierline_shared.clock import FixedClock

Upstream = Callable[[httpx.Request], httpx.Response]
T0 = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # the pages' "now"
WRITER = {"id": "5e0c", "name": "alice's console", "scopes": ["incidents:write"], "person": "alice"}


def console_app(handler: Upstream, clock: FixedClock, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(console_secret=SecretStr(Fernet.generate_key().decode()))
    transport = httpx.MockTransport(handler)
    return create_app(settings, clock=clock, transport=transport, live_feed=False)


def sign_in(client: TestClient, me: dict[str, Any], now: datetime) -> Session:
    session = new_session("tl_the-key", Identity.model_validate(me), now)
    sealed = client.app.state.console.sealer.seal(session, now)  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, sealed, domain="127.0.0.1", path="/")
    return session


class Recorder:
    """Answers by (method, upstream host port, path) from ``answers``; records every request."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Any] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key not in self.answers:
            return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "no such thing"})
        answer = self.answers[key]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer) if answer is not None else httpx.Response(204)

    def asked(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]
