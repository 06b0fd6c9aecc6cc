"""The admin Edit and New forms (queues, escalation policies, SLA policies, calendars) over stand-in
upstreams: pre-filled as each service's PUT takes the object, only for admin, JSON errors in words
with nothing sent, refusals in words keeping the text, and exactly the parsed body sent with the key."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tierline_console.admin import MAX_JSON, _duration_text, parse_object
from tierline_shared.clock import FixedClock

from .pages_app import Recorder, console_app, sign_in
from .test_work_pages import ADMIN, READER, T0, WRITER, XSS, admin_answers

ONE = {
    "/v1/queues/desk": ("GET", "/v1/queues"),
    "/v1/escalation-policies/p1": ("GET", "/v1/escalation-policies"),
    "/v1/sla/policies/p2": ("GET", "/v1/sla/policies"),
    "/v1/sla/calendars/office": ("GET", "/v1/sla/calendars"),
}


@pytest.fixture
def upstream() -> Recorder:
    rec = Recorder()
    rec.answers[("GET", "/v1/access/me")] = ADMIN
    admin_answers(rec)
    for one, listed in ONE.items():  # each object as its service's GET /{name} answers it
        rec.answers[("GET", one)] = rec.answers[listed][0]
    return rec


@pytest.fixture
def client(upstream: Recorder) -> Iterator[TestClient]:
    with TestClient(console_app(upstream, FixedClock(T0)), base_url="http://127.0.0.1:8000") as c:
        yield c


def textarea(page: str) -> str:
    found = re.search(r'<textarea id="edit-body" name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/admin/edit/queues/desk",
            {
                "tier": "L1",
                "strategy": "round_robin",
                "services": [],
                "categories": [],
                "products": [],
                "priorities": ["P2"],
                "skills": [],
                "agents": ["ann"],
                "rank": 1,
            },
        ),
        (
            "/admin/edit/escalation-policies/p1",
            {
                "services": [],
                "priorities": ["P1"],
                "ladder": [{"tier": "L1", "budget": "15m"}, {"tier": "L4", "budget": None}],
                "ack_timeout": "5m",
                "repeat": 2,
                "rank": 1,
            },
        ),
        (
            "/admin/edit/sla-policies/p2",
            {
                "priorities": ["P2"],
                "types": [],
                "services": [],
                "customers": [],
                "response": "15m",
                "resolution": "4h",
                "calendar": "office",
                "pause_on": ["awaiting_customer"],
                "warnings": [0.75, 0.9],
                "rank": 1,
            },
        ),
        (
            "/admin/edit/calendars/office",
            {
                "name": "office",
                "timezone": "Europe/Berlin",
                "hours": {"mon": ["09:00-17:00"]},
                "holidays": ["2026-12-25"],
            },
        ),
    ],
)
def test_the_edit_form_is_prefilled_with_what_the_put_takes(
    client: TestClient, upstream: Recorder, path: str, expected: dict[str, Any]
) -> None:
    session = sign_in(client, ADMIN, T0)
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert json.loads(textarea(page.text)) == expected  # no held/waiting/managed_by/…_seconds
    assert '<label for="edit-body">' in page.text
    assert f'name="csrf_token" value="{session.csrf_token}"' in page.text
    assert f'action="{path}"' in page.text and ">Save</button>" in page.text
    assert all(r.headers["authorization"] == "Bearer tl_the-key" for r in upstream.requests)


def test_the_new_form_starts_from_the_defaults_with_a_name(client: TestClient) -> None:
    sign_in(client, ADMIN, T0)
    page = client.get("/admin/new/sla-policies")
    assert page.status_code == 200 and 'action="/admin/new/sla-policies"' in page.text
    body = json.loads(textarea(page.text))
    assert body["name"] == "" and body["response"] == "15m" and body["calendar"] == "24x7"


def test_edit_links_and_forms_are_only_for_admin(client: TestClient, upstream: Recorder) -> None:
    for me in (READER, WRITER):
        sign_in(client, me, T0)
        for section in ("queues", "escalation-policies", "sla"):
            assert "/admin/edit/" not in client.get(f"/admin/{section}").text
            assert "/admin/new/" not in client.get(f"/admin/{section}").text
        asked = len(upstream.requests)
        page = client.get("/admin/edit/queues/desk")
        assert page.status_code == 403 and "takes the admin scope" in page.text
        assert "<textarea" not in page.text and len(upstream.requests) == asked
        assert client.get("/admin/new/calendars").status_code == 403
    sign_in(client, ADMIN, T0)
    assert 'href="/admin/edit/queues/desk"' in client.get("/admin/queues").text
    assert 'href="/admin/new/escalation-policies"' in client.get("/admin/escalation-policies").text
    sla = client.get("/admin/sla").text
    for link in ("/admin/edit/sla-policies/p2", "/admin/edit/calendars/office", "/admin/new/calendars"):
        assert f'href="{link}"' in sla


def test_a_json_syntax_error_is_shown_with_its_place_and_nothing_is_sent(
    client: TestClient, upstream: Recorder
) -> None:
    session = sign_in(client, ADMIN, T0)
    typed = '{\n  "tier": "L2",\n  "strategy" "least_loaded"\n}'
    page = client.post("/admin/edit/queues/desk", data={"body": typed, "csrf_token": session.csrf_token})
    assert page.status_code == 422
    assert (
        "Not valid JSON at line 3, column 14: Expecting &#39;:&#39; delimiter. Nothing was sent." in page.text
    )
    assert textarea(page.text) == typed and 'aria-invalid="true"' in page.text
    assert [r.method for r in upstream.requests] == []
    for bad, words in [("[1, 2]", "one JSON object"), ('{"repeat": NaN}', "NaN is not a number")]:
        page = client.post("/admin/edit/queues/desk", data={"body": bad, "csrf_token": session.csrf_token})
        assert page.status_code == 422 and words in page.text
    assert upstream.requests == []


def test_a_refusal_shows_the_services_words_and_field_errors_and_keeps_the_text(
    client: TestClient, upstream: Recorder
) -> None:
    upstream.answers[("PUT", "/v1/escalation-policies/p1")] = httpx.Response(
        422,
        json={
            "title": "Unprocessable Content",
            "detail": "the request is not valid",
            "errors": [{"field": "ladder.0.tier", "reason": f"must be L1, L2, L3 or L4 {XSS}"}],
        },
    )
    session = sign_in(client, ADMIN, T0)
    typed = json.dumps({"ladder": [{"tier": "L9"}], "note": XSS}, indent=2)
    page = client.post(
        "/admin/edit/escalation-policies/p1", data={"body": typed, "csrf_token": session.csrf_token}
    )
    assert page.status_code == 422
    assert "router refused it: Unprocessable Content: the request is not valid" in page.text
    assert "<li>ladder.0.tier: must be L1, L2, L3 or L4 &lt;script&gt;" in page.text
    assert textarea(page.text) == typed and XSS not in page.text
    assert len(upstream.asked("PUT", "/v1/escalation-policies/p1")) == 1


def test_an_unreachable_service_keeps_the_text_too(client: TestClient, upstream: Recorder) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    upstream.answers[("POST", "/v1/sla/calendars")] = down
    session = sign_in(client, ADMIN, T0)
    typed = '{"name": "night", "timezone": "UTC"}'
    page = client.post("/admin/new/calendars", data={"body": typed, "csrf_token": session.csrf_token})
    assert page.status_code == 502 and "Not saved: sla-monitor cannot be reached." in page.text
    assert textarea(page.text) == typed


@pytest.mark.parametrize(
    ("path", "method", "upstream_path", "back"),
    [
        ("/admin/edit/queues/desk", "PUT", "/v1/queues/desk", "/admin/queues?done=saved"),
        ("/admin/edit/calendars/office", "PUT", "/v1/sla/calendars/office", "/admin/sla?done=saved"),
        ("/admin/edit/sla-policies/p2", "PUT", "/v1/sla/policies/p2", "/admin/sla?done=saved"),
        (
            "/admin/new/escalation-policies",
            "POST",
            "/v1/escalation-policies",
            "/admin/escalation-policies?done=created",
        ),
    ],
)
def test_saving_sends_exactly_the_parsed_body_with_the_key_and_goes_back_with_a_notice(
    client: TestClient, upstream: Recorder, path: str, method: str, upstream_path: str, back: str
) -> None:
    upstream.answers[(method, upstream_path)] = {"name": "whatever"}
    session = sign_in(client, ADMIN, T0)
    typed = '{"tier": "L2", "agents": ["ann", "bé"], "rank": 2, "nested": {"a": [1.5, null, true]}}'
    response = client.post(
        path, data={"body": typed, "csrf_token": session.csrf_token}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, back)
    [sent] = upstream.requests
    assert (sent.method, sent.url.path) == (method, upstream_path)
    assert json.loads(sent.content) == json.loads(typed)
    assert sent.headers["authorization"] == "Bearer tl_the-key"
    notice = client.get(back).text
    assert ("Saved: the service has the change." if method == "PUT" else "Created.") in notice


def test_a_forged_or_non_admin_post_is_refused_before_any_upstream_call(
    client: TestClient, upstream: Recorder
) -> None:
    body = {"body": '{"tier": "L2"}'}
    sign_in(client, ADMIN, T0)
    for data in (body, {**body, "csrf_token": "forged"}):
        assert client.post("/admin/edit/queues/desk", data=data).status_code == 403
        assert client.post("/admin/new/queues", data=data).status_code == 403
    for me in (WRITER, READER):
        session = sign_in(client, me, T0)
        page = client.post("/admin/edit/queues/desk", data={**body, "csrf_token": session.csrf_token})
        assert page.status_code == 403 and "takes the admin scope" in page.text
    assert upstream.requests == []


def test_an_unknown_kind_or_a_bad_name_goes_nowhere(client: TestClient, upstream: Recorder) -> None:
    session = sign_in(client, ADMIN, T0)
    assert client.get("/admin/edit/vendors/acme", headers={"accept": "text/html"}).status_code == 404
    page = client.post(
        "/admin/edit/queues/" + "q" * 101, data={"body": "{}", "csrf_token": session.csrf_token}
    )
    assert page.status_code == 422 and "name: 1 to 100" in page.text
    assert upstream.requests == []


def test_parse_object_and_durations() -> None:
    assert parse_object('{"a": 1}') == ({"a": 1}, None)
    assert "longer than" in (parse_object(" " * (MAX_JSON + 1))[1] or "")
    assert "nested too deeply" in (parse_object("[" * 100_000)[1] or "")
    assert "line 1, column 1" in (parse_object("")[1] or "")
    assert [_duration_text(s) for s in (900, 5400, 90061, 0, 1.5, None, "x")] == [
        "15m",
        "1h30m",
        "1d1h1m1s",
        "0s",
        1.5,
        None,
        "x",
    ]
