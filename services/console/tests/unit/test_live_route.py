"""``GET /live`` in-process: 401 problem+json without a session, the caps, the end at the session's expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, Identity, new_session
from tierline_shared.clock import FixedClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME = {"id": "5e0c", "name": "alice's console", "scopes": ["incidents:read"], "person": "alice"}


def nothing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"title": "Not Found", "status": 404})


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(console_secret=SecretStr(Fernet.generate_key().decode()), live_max_streams=12)
    app = create_app(settings, clock=FixedClock(T0), transport=httpx.MockTransport(nothing), live_feed=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def sign_in(client: TestClient, issued: datetime, seen: datetime = T0) -> None:
    session = new_session("tl_the-key", Identity.model_validate(ME), issued).model_copy(
        update={"last_seen": seen}
    )
    sealed = client.app.state.console.sealer.seal(session, seen)  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, sealed, domain="127.0.0.1", path="/")


def test_without_a_session_live_is_a_401_problem_not_the_signin_page(client: TestClient) -> None:
    for headers in ({"Accept": "text/event-stream"}, {"Accept": "text/html"}):
        answer = client.get("/live", headers=headers, follow_redirects=False)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == 401 and "sign in again" in answer.json()["detail"]
    client.cookies.set(SESSION_COOKIE, "not-a-sealed-session", domain="127.0.0.1", path="/")
    assert client.get("/live", follow_redirects=False).status_code == 401


def test_one_key_gets_at_most_ten_streams_and_the_console_its_cap(client: TestClient) -> None:
    sign_in(client, T0)
    hub = client.app.state.console.hub  # type: ignore[attr-defined]
    for _ in range(10):
        hub.subscribe(None, owner=ME["id"])
    answer = client.get("/live")
    assert answer.status_code == 429 and answer.headers["content-type"] == "application/problem+json"
    assert "10 live streams" in answer.json()["detail"] and answer.headers["Retry-After"] == "10"
    for _ in range(2):
        hub.subscribe(None, owner="another key")
    answer = client.get("/live")
    assert answer.status_code == 503 and "too many live streams" in answer.json()["detail"]
    assert hub.open_streams == 12  # refused requests took no place


def test_a_stream_ends_at_its_sessions_expiry_and_frees_its_place(client: TestClient) -> None:
    lifetime = client.app.state.console.sealer.lifetime  # type: ignore[attr-defined]
    sign_in(client, T0 - lifetime + timedelta(seconds=0.5))  # half a second of session left
    answer = client.get("/live", headers={"Last-Event-ID": "gone\r\nevent: x"})  # returns once it ended
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.startswith("retry: 2000\n\n")
    assert "event: resync\ndata: {}\n\n" in answer.text and "event: x" not in answer.text
    assert client.app.state.console.hub.open_streams == 0  # type: ignore[attr-defined]


def test_a_stream_ends_when_its_session_would_end_unused(client: TestClient) -> None:
    idle = client.app.state.console.sealer.idle  # type: ignore[attr-defined]
    sign_in(client, T0 - timedelta(minutes=1), seen=T0 - idle + timedelta(seconds=0.5))
    answer = client.get("/live")  # returns once it ended, half a second on
    assert answer.status_code == 200 and answer.text == "retry: 2000\n\n"
