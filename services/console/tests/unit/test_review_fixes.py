"""The console's guards, over stand-in upstreams: moves from the tier the page showed, idempotent
actions, sliding sessions, whose 401 ends a session, /readyz, unanswered creates, times in UTC and
error pages for browsers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from tierline_console import board_view, incident_view
from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, Identity, Sealer, new_session
from tierline_shared.clock import FixedClock

from .test_incident_pages import IID, WRITER, Upstreams, refusal, sign_in, the_incident

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HTML = {"Accept": "text/html,application/xhtml+xml"}


class Recording(Upstreams):
    """The stand-in services, also noting each write's Idempotency-Key; ``hooks`` answer instead."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[str, str | None]] = []
        self.hooks: dict[tuple[str, str], Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.keys.append((request.url.path, request.headers.get("Idempotency-Key")))
        hook = self.hooks.get((request.method, request.url.path))
        if hook is not None:
            hook(request)
        return super().__call__(request)


@pytest.fixture
def upstreams() -> Recording:
    return Recording()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def settings(**more: Any) -> Settings:
    return Settings(console_secret=SecretStr(Fernet.generate_key().decode()), **more)


@pytest.fixture
def client(upstreams: Recording, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings(), clock=clock, transport=httpx.MockTransport(upstreams), live_feed=False)
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as c:
        yield c


def form_key(html: str, action: str) -> str:
    found = re.search(
        rf'action="/incidents/{IID}/{action}".*?name="idempotency_key" value="([0-9a-f-]+)"', html, re.S
    )
    assert found, action
    return found.group(1)


# --- 1. escalate once, act once


def test_escalate_says_the_tier_the_page_showed_and_a_moved_incident_is_refused_in_words(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    page = client.get(f"/incidents/{IID}").text
    assert 'name="from_tier" value="L1"' in page
    form = {"csrf_token": session.csrf_token, "note": "VIP", "from_tier": "L1"}
    assert client.post(f"/incidents/{IID}/escalate", data=form, follow_redirects=False).status_code == 303
    assert upstreams.writes()[-1] == (
        "router",
        "POST",
        f"/v1/incidents/{IID}/escalate",
        {"note": "VIP", "from_tier": "L1"},
    )
    upstreams.answers[("router", "POST", f"/v1/incidents/{IID}/escalate")] = refusal(
        409, "The incident is no longer at the tier the request expected", "the incident is at L2 now, not L1"
    )
    again = client.post(f"/incidents/{IID}/escalate", data=form)
    assert again.status_code == 409
    assert "the incident is at L2 now, not L1" in again.text
    bad = client.post(f"/incidents/{IID}/de-escalate", data={**form, "from_tier": "L9"})
    assert bad.status_code == 422 and "from_tier: choose one of L1, L2, L3, L4" in bad.text
    assert len(upstreams.writes()) == 2  # the bad tier never reached the router


def test_each_intake_action_form_has_its_own_key_forwarded_as_idempotency_key(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    page = client.get(f"/incidents/{IID}").text
    keys = {a: form_key(page, a) for a in ("acknowledge", "hold", "note", "escalate")}
    assert len(set(keys.values())) == 4
    form = {"csrf_token": session.csrf_token, "idempotency_key": keys["acknowledge"]}
    for _ in range(2):  # a double submit: the same key twice, so intake acts once
        assert (
            client.post(f"/incidents/{IID}/acknowledge", data=form, follow_redirects=False).status_code == 303
        )
    path = f"/v1/incidents/{IID}/acknowledge"
    assert upstreams.keys == [(path, keys["acknowledge"]), (path, keys["acknowledge"])]
    # a refused form keeps its key (nothing was done), and a form without one gets a fresh key
    refused = client.post(
        f"/incidents/{IID}/note", data={"csrf_token": session.csrf_token, "idempotency_key": keys["note"]}
    )
    assert refused.status_code == 422 and form_key(refused.text, "note") == keys["note"]


# --- 2. sessions


def test_the_session_setting_is_capped_at_a_day_and_idle_defaults_to_an_hour() -> None:
    with pytest.raises(ValidationError, match="console_session_hours"):
        settings(console_session_hours=25)
    assert settings().idle_timeout() == timedelta(minutes=60)
    with pytest.raises(ValidationError, match="console_idle_minutes"):
        settings(console_idle_minutes=0)


def test_a_used_session_slides_an_idle_one_ends_and_the_lifetime_still_counts_from_sign_in() -> None:
    sealer = Sealer([Fernet.generate_key().decode()], timedelta(hours=12), timedelta(minutes=60))
    session = new_session("k", Identity(id="1", name="a"), T0)
    cookie = sealer.seal(session, T0)
    assert not sealer.needs_touch(session, T0 + timedelta(seconds=59))
    assert sealer.examine(cookie, T0 + timedelta(minutes=61)) == (None, "idle")
    now = T0
    for _ in range(14):  # used every 55 minutes: never idle, but over after 12 hours
        now += timedelta(minutes=55)
        opened, why = sealer.examine(cookie, now)
        if opened is None:
            break
        assert sealer.needs_touch(opened, now)
        cookie, max_age = sealer.touched(opened, now)
        assert max_age == int((T0 + timedelta(hours=12) - now).total_seconds())
    assert (opened, why, now - T0 > timedelta(hours=12)) == (None, "expired", True)


def test_pages_renew_the_cookie_once_a_minute_and_an_idle_session_is_told_why(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    assert SESSION_COOKIE not in client.get(f"/incidents/{IID}").headers.get("set-cookie", "")
    clock.advance(timedelta(minutes=59))
    renewed = client.get(f"/incidents/{IID}")
    assert renewed.status_code == 200 and f"{SESSION_COOKIE}=" in renewed.headers["set-cookie"]
    assert "HttpOnly" in renewed.headers["set-cookie"] and "SameSite=strict" in renewed.headers["set-cookie"]
    clock.advance(timedelta(minutes=59))  # within the hour since the renewal
    assert client.get(f"/incidents/{IID}").status_code == 200
    clock.advance(timedelta(minutes=61))
    ended = client.get(f"/incidents/{IID}", follow_redirects=False)
    assert (ended.status_code, ended.headers["location"]) == (303, "/signin?ended=idle")
    assert "not used for a while" in client.get("/signin?ended=idle").text


# --- 3. only intake's 401 ends a session


def test_a_router_401_is_not_yet_known_not_a_sign_out(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("router", "GET", "/v1/queues")] = refusal(401, "Unauthorized", "unknown key")
    page = client.get("/admin/queues", headers=HTML, follow_redirects=False)
    assert page.status_code == 503 and "not yet known to router" in page.text
    assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
    upstreams.answers[("intake", "GET", "/v1/access/me")] = refusal(401, "Unauthorized", "revoked")
    gone = client.get("/admin", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (303, "/signin?ended=revoked")


def test_my_work_with_a_router_401_still_shows_what_i_hold(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("intake", "GET", "/v1/incidents")] = httpx.Response(
        200, json={"items": [the_incident()], "next_cursor": None}
    )
    upstreams.answers[("router", "GET", "/v1/agents/alice")] = refusal(401, "Unauthorized", "unknown key")
    page = client.get("/my-work", follow_redirects=False)
    assert page.status_code == 200 and "VPN down" in page.text
    assert "not yet known to the router" in page.text


# --- 4. readiness


def test_readiness_needs_intake_and_reports_the_others(upstreams: Upstreams, clock: FixedClock) -> None:
    up = {"intake"}

    def health(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            name = {8001: "intake", 8002: "router"}.get(request.url.port or 0, "other")
            return httpx.Response(200 if name in up else 503)
        return upstreams(request)

    app = create_app(settings(), clock=clock, transport=httpx.MockTransport(health), live_feed=False)
    with TestClient(app) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"intake": True}
        assert ready.json()["upstreams"]["router"] is False
        up.clear()
        down = c.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"] == {"intake": False}
        assert down.headers["content-type"].startswith("application/problem+json")


# --- 5. an unanswered create


def test_a_create_intake_does_not_answer_keeps_the_form_and_its_key(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', client.get("/incidents/new").text)
    assert key

    def slow(request: httpx.Request) -> None:
        raise httpx.ReadTimeout("slow", request=request)

    upstreams.hooks[("POST", "/v1/incidents")] = slow
    form = {
        "csrf_token": session.csrf_token,
        "idempotency_key": key.group(1),
        "title": "Printer on fire",
        "service": "printing",
        "category": "hardware",
        "reporter": "bob@example.com",
        "channel": "phone",
        "impact": "high",
        "urgency": "high",
        "type": "incident",
    }
    answer = client.post("/incidents/new", data=form)
    assert answer.status_code == 504
    assert "intake did not answer in time" in answer.text and "logs it once" in answer.text
    assert 'value="Printer on fire"' in answer.text
    assert f'name="idempotency_key" value="{key.group(1)}"' in answer.text
    assert upstreams.keys == [("/v1/incidents", key.group(1))]


# --- 6. times


def test_times_are_converted_to_utc_and_a_malformed_one_is_a_dash() -> None:
    assert board_view.format_time("2026-03-02T10:30:00+01:00") == "02 Mar 2026 09:30 UTC"
    assert board_view.format_time("2026-03-02T09:30:00Z") == "02 Mar 2026 09:30 UTC"
    assert board_view.format_time("2026-03-02T09:30:00") == "02 Mar 2026 09:30 UTC"  # naive: UTC
    assert incident_view.time_text("2026-03-02T04:00:00-05:00") == "02 Mar 2026 09:00 UTC"
    assert board_view.waited_text("2026-03-02T10:30:00+01:00") == "02 Mar 09:30 UTC"
    for bad in ("yesterday", "2026-13-45T99:00", 12345, {"at": 1}):
        assert board_view.format_time(bad) == "—"
    assert board_view.format_time(None) == ""
    cd = board_view.countdown({"clock": "response", "due_at": "soon", "remaining_seconds": "x"}, T0)
    assert cd is not None and cd.text == "breached" and cd.due_at is None


def test_pages_with_malformed_times_and_fields_render(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    upstreams.incident = the_incident(
        created_at="not a time",
        sla={"response": {"state": "met", "met_at": "garbage"}, "bad": "x"},
        timeline=[{"at": "never", "kind": "created", "summary": "made"}, "junk"],
    )
    page = client.get(f"/incidents/{IID}")
    assert page.status_code == 200 and "met —" in page.text
    upstreams.answers[("intake", "GET", "/v1/incidents")] = httpx.Response(
        200,
        json={
            "items": [{"id": IID, "waiting_since": "soon"}, {"title": "no id"}, "junk"],
            "next_cursor": None,
        },
    )
    board = client.get("/boards/L1")
    assert board.status_code == 200 and "Untitled incident" in board.text and "no id" not in board.text


# --- 7. error pages for browsers


def test_a_malformed_id_is_an_html_404_for_a_browser_and_problem_json_for_an_api_client(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    page = client.get("/incidents/not-a-uuid", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "incident_id" in page.text
    api = client.get("/incidents/not-a-uuid", headers={"Accept": "application/json"})
    assert api.status_code == 422 and api.headers["content-type"].startswith("application/problem+json")


def test_an_unexpected_error_is_a_generic_html_500_for_a_browser(
    client: TestClient, clock: FixedClock, upstreams: Recording
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("intake", "GET", f"/v1/incidents/{IID}")] = httpx.Response(200, content=b"not json")
    page = client.get(f"/incidents/{IID}", headers=HTML)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "it has been logged" in page.text and "JSONDecodeError" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    api = client.get(f"/incidents/{IID}", headers={"Accept": "application/json"})
    assert api.status_code == 500 and api.headers["content-type"].startswith("application/problem+json")
