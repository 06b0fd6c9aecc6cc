"""The incident page, its actions and the new-incident form in-process, over stand-in upstreams
(intake on :8001, the router on :8002, the vendor gateway on :8004): what they call, with which
body, and what the person sees when it works or is refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_console.sessions import SESSION_COOKIE, Identity, Session, new_session
from tierline_shared.clock import FixedClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IID = "0b4f8e2a-54a1-4f6e-9d1e-6a0c2b7e4f11"
NEW_ID = "7d1e0c55-2a4b-4c3d-8e9f-0a1b2c3d4e5f"
WRITER = {
    "id": "5e0c",
    "name": "alice's console",
    "scopes": ["incidents:read", "incidents:write"],
    "person": "alice",
}
READER = {"id": "5e0d", "name": "carol's console", "scopes": ["incidents:read"], "person": "carol"}
XSS = "<script>alert(1)</script>"
PORTS = {8001: "intake", 8002: "router", 8004: "vendor-gateway"}


def the_incident(**fields: Any) -> dict[str, Any]:
    return {
        "id": IID,
        "title": "VPN down",
        "description": "Nobody connects",
        "service": "vpn",
        "category": "network",
        "product": None,
        "customer": None,
        "impact": "medium",
        "urgency": "medium",
        "priority": "P3",
        "type": "incident",
        "channel": "phone",
        "reporter": "r@example.com",
        "occurrences": 1,
        "status": "open",
        "hold_reason": None,
        "tier": "L1",
        "queue": "service-desk",
        "assignee": "alice",
        "vendor": "acme",
        "vendor_reference": "ACME-7",
        "created_at": "2026-03-02T08:00:00+00:00",
        "acknowledged_at": None,
        "resolved_at": None,
        "closed_at": None,
        "resolution_code": None,
        "reopen_count": 0,
        "knowledge": [{"title": "VPN runbook", "url": "https://kb.example.com/vpn"}],
        "knowledge_article_used": None,
        "problem": {"id": IID, "title": "Concentrator firmware", "known_error": True, "workaround": "Reboot"},
        "sla": {
            "response": {
                "state": "running",
                "due_at": "2026-03-02T09:10:00+00:00",
                "remaining_seconds": 600,
                "warning_threshold": None,
                "last_warning": False,
                "breached": False,
            },
        },
        "timeline": [
            {
                "at": "2026-03-02T08:00:00+00:00",
                "kind": "created",
                "summary": f"Created {XSS}",
                "source": "intake",
                "data": {},
            }
        ],
        **fields,
    }


class Upstreams:
    """Stand-in services: what they were asked, and what they answer (overridable per path)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any]] = []
        self.me: dict[str, Any] = WRITER
        self.incident = the_incident()
        self.answers: dict[tuple[str, str, str], httpx.Response] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        service = PORTS.get(request.url.port or 0, "other")
        body = json.loads(request.content) if request.content else None
        self.calls.append((service, request.method, request.url.path, body))
        canned = self.answers.get((service, request.method, request.url.path))
        if canned is not None:
            return canned
        path = request.url.path
        if service == "intake" and path == "/v1/access/me":
            return httpx.Response(200, json=self.me)
        if service == "intake" and path == f"/v1/incidents/{IID}":
            return httpx.Response(200, json=self.incident)
        if service == "intake" and request.method == "POST" and path.startswith(f"/v1/incidents/{IID}/"):
            return httpx.Response(200, json=self.incident)
        if service == "intake" and request.method == "POST" and path == "/v1/incidents":
            return httpx.Response(201, json=the_incident(id=NEW_ID))
        if service == "router" and request.method == "POST":
            return httpx.Response(200, json={"incident_id": IID, "tier": "L2"})
        if service == "vendor-gateway" and path == "/v1/cases":
            case = {
                "id": "c1",
                "incident_id": IID,
                "vendor": "acme",
                "status": "open",
                "vendor_reference": "ACME-7",
                "created_at": "2026-03-02T08:30:00+00:00",
                "updated_at": "2026-03-02T08:30:00+00:00",
            }
            return httpx.Response(200, json={"items": [case], "next_cursor": None})
        if service == "vendor-gateway" and path == "/v1/deliveries":
            mine = {
                "id": "wh_1",
                "case_id": "c1",
                "vendor": "acme",
                "status": "delivered",
                "attempts": 2,
                "last_status_code": 200,
                "last_error": None,
                "created_at": "2026-03-02T08:30:01+00:00",
                "delivered_at": "2026-03-02T08:30:09+00:00",
            }
            other = {**mine, "id": "wh_2", "case_id": "c9", "status": "dead", "attempts": 9}
            return httpx.Response(200, json=[mine, other])
        return httpx.Response(404, json={"title": "Not Found", "status": 404})

    def writes(self) -> list[tuple[str, str, str, Any]]:
        return [c for c in self.calls if c[1] != "GET"]


def refusal(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": errors or []}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def client(upstreams: Upstreams, clock: FixedClock) -> Iterator[TestClient]:
    settings = Settings(console_secret=SecretStr(Fernet.generate_key().decode()))
    app = create_app(settings, clock=clock, transport=httpx.MockTransport(upstreams), live_feed=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def sign_in(client: TestClient, clock: FixedClock, me: dict[str, Any], upstreams: Upstreams) -> Session:
    upstreams.me = me
    session = new_session("tl_the-key", Identity.model_validate(me), clock.now())
    sealed = client.app.state.console.sealer.seal(session, clock.now())  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, sealed, domain="127.0.0.1", path="/")
    return session


def buttons(html: str) -> list[str]:
    return re.findall(r"<button type=\"submit\"[^>]*>([^<]+)</button>", html)


def test_the_page_shows_the_incident_and_its_actions(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    page = client.get(f"/incidents/{IID}")
    assert page.status_code == 200
    html = page.text
    assert "Concentrator firmware" in html and "known error" in html and "Workaround: Reboot" in html
    assert '<a href="https://kb.example.com/vpn" rel="noopener noreferrer">VPN runbook</a>' in html
    assert "Created &lt;script&gt;" in html and XSS not in html
    assert 'data-left="600"' in html and "10m 00s" in html  # the response clock counts down
    assert "ACME-7" in html and "HTTP 200" in html  # the vendor case and its own delivery
    assert "dead" not in html  # another case's delivery is not this incident's
    assert buttons(html) == [
        "Sign out",
        "Acknowledge",
        "Hold",
        "Resolve",
        "Add note",
        "Escalate",
        "Change priority",
    ]
    assert f'data-incident-id="{IID}"' in html and 'sse-connect="/live"' in html
    assert 'src="/static/js/incident.js"' in html
    assert "aria-live" not in html  # per-second countdowns are not read out: one status line is
    assert '<p id="live-status" class="visually-hidden" role="status"></p>' in html
    assert 'id="incident-detail" class="incident-detail" data-live-label="Incident details updated"' in html
    assert ("vendor-gateway", "GET", "/v1/deliveries", None) in upstreams.calls


def test_fragments_are_served_alone(client: TestClient, clock: FixedClock, upstreams: Upstreams) -> None:
    sign_in(client, clock, WRITER, upstreams)
    detail = client.get(f"/incidents/{IID}/detail", headers={"HX-Request": "true"})
    assert detail.status_code == 200 and "<html" not in detail.text and "Timeline" in detail.text
    actions = client.get(f"/incidents/{IID}/actions", headers={"HX-Request": "true"})
    assert (
        actions.status_code == 200 and "<html" not in actions.text and ">Acknowledge</button>" in actions.text
    )


def test_a_read_only_key_sees_no_buttons_and_its_forged_post_is_403(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, READER, upstreams)
    page = client.get(f"/incidents/{IID}")
    assert page.status_code == 200 and buttons(page.text) == ["Sign out"]
    assert "may read this incident but not act on it" in page.text
    forged = client.post(f"/incidents/{IID}/acknowledge", data={"csrf_token": session.csrf_token})
    assert forged.status_code == 403
    assert "lacks the incidents:write scope" in forged.text
    assert upstreams.writes() == []  # refused before any upstream was asked
    assert client.get("/incidents/new").status_code == 403
    assert client.post("/incidents/new", data={"csrf_token": session.csrf_token}).status_code == 403
    assert upstreams.writes() == []


def test_a_post_without_the_csrf_token_is_403(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    assert client.post(f"/incidents/{IID}/acknowledge", data={}).status_code == 403
    assert client.post(f"/incidents/{IID}/acknowledge", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/incidents/new", data={"title": "x"}).status_code == 403
    assert upstreams.writes() == []


def test_acknowledge_calls_intake_and_returns_to_the_page(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    done = client.post(
        f"/incidents/{IID}/acknowledge", data={"csrf_token": session.csrf_token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/incidents/{IID}?done=acknowledge"
    assert upstreams.writes() == [("intake", "POST", f"/v1/incidents/{IID}/acknowledge", {"by": "alice"})]
    assert "Acknowledged." in client.get(done.headers["location"]).text
    unknown = client.get(f"/incidents/{IID}", params={"done": "<b>hacked</b>"})
    assert 'class="notice"' not in unknown.text and "hacked" not in unknown.text  # fixed notices only


def test_htmx_actions_answer_with_the_fragment_and_reload_the_detail(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    answer = client.post(
        f"/incidents/{IID}/hold",
        data={"reason": "awaiting_vendor", "note": "case ACME-7"},
        headers={"HX-Request": "true", "X-CSRF-Token": session.csrf_token},
    )
    assert answer.status_code == 200 and answer.headers["HX-Trigger"] == "incident-changed"
    assert "Put on hold." in answer.text and "<html" not in answer.text
    assert upstreams.writes() == [
        (
            "intake",
            "POST",
            f"/v1/incidents/{IID}/hold",
            {"reason": "awaiting_vendor", "note": "case ACME-7", "by": "alice"},
        )
    ]


def test_escalate_and_de_escalate_go_to_the_router_with_their_note(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    upstreams.incident = the_incident(tier="L2")
    token = session.csrf_token
    client.post(
        f"/incidents/{IID}/escalate", data={"csrf_token": token, "note": "needs L3"}, follow_redirects=False
    )
    client.post(
        f"/incidents/{IID}/de-escalate",
        data={"csrf_token": token, "note": "desk can do it", "to_tier": "L1"},
        follow_redirects=False,
    )
    assert upstreams.writes() == [
        ("router", "POST", f"/v1/incidents/{IID}/escalate", {"note": "needs L3"}),
        ("router", "POST", f"/v1/incidents/{IID}/de-escalate", {"note": "desk can do it", "to_tier": "L1"}),
    ]


def test_escalate_without_a_note_is_refused_by_field_before_the_router(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    page = client.post(f"/incidents/{IID}/escalate", data={"csrf_token": session.csrf_token, "note": " "})
    assert page.status_code == 422
    assert 'id="err-escalate-note"' in page.text and "note: required" in page.text
    assert upstreams.writes() == []


def test_a_refused_action_shows_the_problem_in_words(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("intake", "POST", f"/v1/incidents/{IID}/close")] = refusal(
        409,
        "That change is not allowed in the incident's current status",
        "An open incident cannot be closed.",
    )
    page = client.post(f"/incidents/{IID}/close", data={"csrf_token": session.csrf_token})
    assert page.status_code == 409
    assert "Close was refused by intake: That change is not allowed" in page.text
    assert "An open incident cannot be closed." in page.text
    assert "Traceback" not in page.text


def test_a_422_from_intake_is_shown_by_field(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("intake", "PATCH", f"/v1/incidents/{IID}")] = refusal(
        422,
        "Invalid input",
        "Invalid field(s): priority",
        [{"field": "priority", "reason": "not allowed now"}],
    )
    page = client.post(
        f"/incidents/{IID}/priority", data={"csrf_token": session.csrf_token, "priority": "P1"}
    )
    assert page.status_code == 422
    assert 'id="err-priority-priority"' in page.text and "priority: not allowed now" in page.text
    htmx = client.post(
        f"/incidents/{IID}/priority",
        data={"priority": "P1"},
        headers={"HX-Request": "true", "X-CSRF-Token": session.csrf_token},
    )
    assert htmx.status_code == 200 and "priority: not allowed now" in htmx.text and "<html" not in htmx.text


def test_the_router_not_knowing_the_key_yet_is_a_refusal_not_a_sign_out(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("router", "POST", f"/v1/incidents/{IID}/escalate")] = refusal(
        401, "Unauthorized", "unknown key"
    )
    page = client.post(f"/incidents/{IID}/escalate", data={"csrf_token": session.csrf_token, "note": "x"})
    assert page.status_code == 401 and "Escalate was refused by router" in page.text
    assert client.get(f"/incidents/{IID}").status_code == 200  # still signed in


def test_vendor_cases_are_left_out_without_the_scope_and_noted_when_unreachable(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    sign_in(client, clock, WRITER, upstreams)
    upstreams.answers[("vendor-gateway", "GET", "/v1/cases")] = refusal(403, "Forbidden", "lacks the scope")
    page = client.get(f"/incidents/{IID}")
    assert page.status_code == 200 and "Vendor case" not in page.text
    upstreams.answers[("vendor-gateway", "GET", "/v1/cases")] = refusal(503, "Service Unavailable", "down")
    page = client.get(f"/incidents/{IID}")
    assert page.status_code == 200 and "refused to show the vendor cases" in page.text


def test_unknown_action_and_unknown_incident(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    assert (
        client.post(f"/incidents/{IID}/explode", data={"csrf_token": session.csrf_token}).status_code == 404
    )
    other = "11111111-1111-4111-8111-111111111111"
    assert client.get(f"/incidents/{other}", headers={"Accept": "text/html"}).status_code == 404
    assert upstreams.writes() == []


def test_the_new_incident_form_logs_a_call_and_opens_it(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    form = client.get("/incidents/new")
    assert form.status_code == 200
    assert '<option value="phone" selected>' in form.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form.text)
    assert key
    fields = {
        "csrf_token": session.csrf_token,
        "idempotency_key": key.group(1),
        "title": "Printer jammed",
        "description": "Walk-in at reception",
        "service": "printing",
        "category": "hardware",
        "channel": "phone",
        "reporter": "dora@example.com",
        "impact": "low",
        "urgency": "high",
        "type": "service_request",
    }
    done = client.post("/incidents/new", data=fields, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/incidents/{NEW_ID}"
    [(service, method, path, body)] = upstreams.writes()
    assert (service, method, path) == ("intake", "POST", "/v1/incidents")
    assert body == {k: v for k, v in fields.items() if k not in ("csrf_token", "idempotency_key")}


def test_the_new_incident_form_shows_errors_by_field(
    client: TestClient, clock: FixedClock, upstreams: Upstreams
) -> None:
    session = sign_in(client, clock, WRITER, upstreams)
    page = client.post(
        "/incidents/new",
        data={
            "csrf_token": session.csrf_token,
            "title": XSS,
            "channel": "pigeon",
            "impact": "high",
            "urgency": "low",
            "type": "incident",
        },
    )
    assert page.status_code == 422
    for name in ("service", "category", "reporter"):
        assert f'id="err-{name}">{name}: required' in page.text
    assert 'id="err-channel">channel: choose one of phone, chat, email, web' in page.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text and XSS not in page.text
    assert upstreams.writes() == []

    upstreams.answers[("intake", "POST", "/v1/incidents")] = refusal(
        422,
        "Invalid input",
        "Invalid field(s): service",
        [{"field": "service", "reason": "must match the pattern"}],
    )
    fields = {
        "csrf_token": session.csrf_token,
        "title": "t",
        "service": "no spaces!",
        "category": "c",
        "channel": "chat",
        "reporter": "r",
        "impact": "low",
        "urgency": "low",
        "type": "incident",
    }
    page = client.post("/incidents/new", data=fields)
    assert page.status_code == 422
    assert 'id="err-service">service: must match the pattern' in page.text
    assert 'value="no spaces!"' in page.text  # what was typed stays
