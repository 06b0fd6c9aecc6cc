"""The console's pages in-process, its upstreams answered by a stand-in transport: security headers,
CSRF, escaping, and upstream problems in words. (tests/integration signs in against the real intake.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.board_view import OPEN_STATUSES, PRIORITIES, SORTS, TYPES, Filters, rows
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, SIGNIN_COOKIE, Identity, Session, new_session
from tierline_console.upstream import problem_message
from tierline_console.web import CSP, TEMPLATES, environment
from tierline_shared.clock import FixedClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"
ME = {"id": "5e0c", "name": "alice's console", "scopes": ["incidents:write"], "person": "alice"}
XSS = "<script>alert(1)</script>"
Upstream = Callable[[httpx.Request], httpx.Response]


def incident(**fields: Any) -> dict[str, Any]:
    return {
        "id": "0b4f8e2a-54a1-4f6e-9d1e-6a0c2b7e4f11",
        "title": "VPN down",
        "service": "vpn",
        "priority": "P2",
        "status": "open",
        "type": "incident",
        "tier": "L1",
        "queue": "service-desk",
        "assignee": None,
        "waiting_since": None,
        "vendor": None,
        "created_at": "2026-03-02T08:00:00+00:00",
        "sla": None,
        **fields,
    }


def default_upstream(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/access/me":
        return httpx.Response(200, json=ME)
    if request.url.path == "/v1/incidents":
        return httpx.Response(200, json={"items": [incident(title=XSS)], "next_cursor": None})
    return httpx.Response(404, json={"title": "Not Found", "status": 404})


@pytest.fixture
def upstream() -> dict[str, Upstream]:
    return {"handler": default_upstream}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def client(upstream: dict[str, Upstream], clock: FixedClock) -> Iterator[TestClient]:
    settings = Settings(console_secret=SecretStr(Fernet.generate_key().decode()))
    transport = httpx.MockTransport(lambda request: upstream["handler"](request))
    with TestClient(
        create_app(settings, clock=clock, transport=transport, live_feed=False), base_url=BASE
    ) as c:
        yield c


def sign_in(client: TestClient, clock: FixedClock) -> Session:
    """A session cookie as POST /signin sets it (sealed by the app's own sealer)."""
    session = new_session("tl_the-key", Identity.model_validate(ME), clock.now())
    sealed = client.app.state.console.sealer.seal(session, clock.now())  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, sealed, domain="127.0.0.1", path="/")
    return session


def signin_token(client: TestClient) -> str:
    page = client.get("/signin")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.mark.parametrize(
    "path", ["/signin", "/healthz", "/boards/L1", "/no/such/page", "/static/css/console.css"]
)
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_are_not_cached_and_static_files_may_be(client: TestClient) -> None:
    assert client.get("/signin").headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/static/css/console.css").headers


def test_templates_have_no_inline_scripts_or_styles() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.S)
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline event handlers
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag, f"{template.name}: {tag}"


def test_the_board_escapes_what_incidents_carry(client: TestClient, clock: FixedClock) -> None:
    sign_in(client, clock)
    page = client.get("/boards/L1")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert XSS not in page.text


def test_a_template_escapes_a_title_and_a_person(clock: FixedClock) -> None:
    session = new_session("k", Identity(id="1", name=XSS, person=None), clock.now())
    html = (
        environment()
        .get_template("board.html")
        .render(
            request_path="/boards/L1",
            session=session,
            tiers=["L1"],
            kind="tier",
            name="L1",
            base="/boards/L1",
            filters=Filters(),
            sorts=SORTS,
            priorities=PRIORITIES,
            statuses=OPEN_STATUSES,
            types=TYPES,
            errors=[],
            rows=rows([incident(title=XSS)], T0),
            more=False,
            max_incidents=400,
        )
    )
    assert XSS not in html and html.count("&lt;script&gt;") == 3  # the title, the name and its tooltip


def test_pages_name_the_person_and_never_show_the_key(client: TestClient, clock: FixedClock) -> None:
    session = sign_in(client, clock)
    page = client.get("/boards/L1")
    assert ">alice<" in page.text
    assert f'<meta name="csrf-token" content="{session.csrf_token}">' in page.text
    assert "tl_the-key" not in page.text and "tl_the-key" not in str(page.headers)


def test_without_a_session_a_page_sends_the_browser_to_sign_in(client: TestClient) -> None:
    response = client.get("/boards/L1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"


def test_an_expired_session_is_sent_to_sign_in_with_a_reason(client: TestClient, clock: FixedClock) -> None:
    sign_in(client, clock)
    clock.advance(timedelta(hours=12, seconds=1))
    response = client.get("/boards/L1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?ended=expired"
    assert "Your session has ended" in client.get(response.headers["location"]).text


def test_htmx_requests_are_told_to_sign_in_by_header(client: TestClient) -> None:
    response = client.get("/boards/L1", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401 and response.headers["hx-redirect"] == "/signin"


def test_signin_without_its_csrf_token_is_refused(client: TestClient) -> None:
    signin_token(client)  # the pre-session cookie is set, but the form does not send the token
    response = client.post("/signin", data={"api_key": "tl_the-key"})
    assert response.status_code == 403
    assert "CSRF token" in response.text


def test_signin_with_a_token_of_another_form_is_refused(client: TestClient) -> None:
    signin_token(client)
    response = client.post("/signin", data={"api_key": "tl_the-key", "csrf_token": "made-up"})
    assert response.status_code == 403


def test_signin_with_the_token_but_without_the_cookie_is_refused(client: TestClient) -> None:
    token = signin_token(client)
    client.cookies.delete(SIGNIN_COOKIE)
    assert client.post("/signin", data={"api_key": "k", "csrf_token": token}).status_code == 403


def test_signin_without_a_key_asks_for_one(client: TestClient) -> None:
    response = client.post("/signin", data={"api_key": "  ", "csrf_token": signin_token(client)})
    assert response.status_code == 422 and "Enter your API key." in response.text
    assert SESSION_COOKIE not in response.cookies


def test_signout_needs_the_session_csrf_token(client: TestClient, clock: FixedClock) -> None:
    session = sign_in(client, clock)
    assert client.post("/signout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/boards/L1", follow_redirects=False).status_code == 200  # still signed in
    response = client.post("/signout", data={"csrf_token": session.csrf_token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?ended=signedout"
    assert client.get("/boards/L1", follow_redirects=False).status_code == 303


def test_an_upstream_refusal_is_shown_in_words(
    client: TestClient, clock: FixedClock, upstream: dict[str, Upstream]
) -> None:
    def refusing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            headers={"content-type": "application/problem+json"},
            json={"title": "Forbidden", "status": 403, "detail": "needs incidents:read"},
        )

    upstream["handler"] = refusing
    sign_in(client, clock)
    page = client.get("/boards/L1")
    assert page.status_code == 403 and "Forbidden: needs incidents:read" in page.text


def test_an_unreachable_upstream_is_a_page_not_a_stack_trace(
    client: TestClient, clock: FixedClock, upstream: dict[str, Upstream]
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    upstream["handler"] = down
    sign_in(client, clock)
    page = client.get("/boards/L1")
    assert page.status_code == 502 and "intake cannot be reached" in page.text


def test_an_unknown_board_is_a_404_page(client: TestClient, clock: FixedClock) -> None:
    sign_in(client, clock)
    page = client.get("/boards/L9")
    assert page.status_code == 404 and "There are boards for L1, L2, L3, L4." in page.text


def test_problem_json_in_words_with_field_errors() -> None:
    response = httpx.Response(
        422,
        json={
            "title": "Your request is not valid",
            "detail": "Invalid field(s): note",
            "errors": [{"field": "note", "reason": "a note is required to escalate"}],
        },
    )
    assert problem_message(response) == (
        "Your request is not valid: Invalid field(s): note",
        ["note: a note is required to escalate"],
    )
    assert problem_message(httpx.Response(502, text="<html>bad gateway</html>")) == ("502 Bad Gateway", [])
