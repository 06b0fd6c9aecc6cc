"""My work, the dashboard and the admin pages in-process over stand-in upstreams: what they ask,
what they show, which buttons appear for which scopes, and the CSRF-checked edits."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from .pages_app import T0, WRITER, Recorder, sign_in

READER = {"id": "5e0d", "name": "bob", "scopes": ["incidents:read"], "person": None}
ADMIN = {"id": "5e0e", "name": "root", "scopes": ["admin"], "person": "root"}
XSS = "<script>alert(1)</script>"


def incident(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "title": f"incident {n}",
        "service": "vpn",
        "priority": "P3",
        "status": "open",
        "type": "incident",
        "tier": "L1",
        "queue": "desk",
        "assignee": None,
        "waiting_since": None,
        "vendor": None,
        "created_at": "2026-03-20T08:00:00+00:00",
        "sla": None,
        **fields,
    }


def sla(minutes: float, **fields: Any) -> dict[str, Any]:
    return {
        "clock": "resolution",
        "due_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "remaining_seconds": max(minutes * 60, 0),
        "warning_threshold": None,
        "last_warning": False,
        "breached": False,
        "paused": False,
        **fields,
    }


def ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-incident-id="00000000-0000-4000-8000-(\d+)"', html)]


# -- my work ---------------------------------------------------------------------------------------


def incidents_answer(request: httpx.Request) -> dict[str, Any]:
    if request.url.params.get("assignee") == "alice":
        items = [
            incident(1, assignee="alice"),
            incident(2, assignee="alice", sla=sla(5)),
            incident(3, assignee="alice", sla=sla(-2, breached=True)),
        ]
    else:
        items = [
            incident(4, waiting_since="2026-03-20T08:30:00+00:00", sla=sla(30), title=XSS),
            incident(5, assignee="carol"),  # held by someone else: not waiting
            incident(6, queue="net", waiting_since="2026-03-20T08:40:00+00:00", sla=sla(3)),
        ]
    return {"items": items, "next_cursor": None}


def test_my_work_lists_what_i_hold_nearest_breach_first_and_my_queues_waiting(
    client: TestClient, upstream: Recorder
) -> None:
    upstream.answers[("GET", "/v1/incidents")] = incidents_answer
    upstream.answers[("GET", "/v1/agents/alice")] = {
        "name": "alice",
        "available": True,
        "queues": ["desk", "net"],
    }
    sign_in(client, WRITER, T0)

    page = client.get("/my-work")

    assert page.status_code == 200
    held, waiting = page.text.split('id="h-waiting"')
    assert ids(held) == [3, 2, 1]
    assert ids(waiting) == [6, 4]
    asked = upstream.asked("GET", "/v1/incidents")
    assert asked[0].url.params["assignee"] == "alice"
    assert asked[0].url.params.get_list("status") == ["open", "acknowledged", "on_hold"]
    assert asked[1].url.params.get_list("queue") == ["desk", "net"] and "assignee" not in asked[1].url.params
    assert "&lt;script&gt;" in page.text and XSS not in page.text
    assert 'hx-trigger="sse:incident, sse:resync"' in page.text
    assert 'hx-get="/my-work/rows" data-live-label="My work updated" data-live-refresh' in page.text
    assert 'hx-trigger="live-refresh"' in page.text
    assert "aria-live" not in page.text  # per-second countdowns are not read out: one status line is
    assert '<p id="live-status" class="visually-hidden" role="status"></p>' in page.text
    assert '<div id="live-alert" class="live-alert" role="alert"></div>' in page.text
    assert 'sse-connect="/live"' in page.text and ">-2m 00s<" in page.text
    assert "Queues: desk, net." in page.text
    assert ">Go away</button>" in page.text  # incidents:write may set its own availability

    rows = client.get("/my-work/rows", headers={"HX-Request": "true"})
    assert rows.status_code == 200 and "<html" not in rows.text and ids(rows.text) == [3, 2, 1, 6, 4]
    assert (
        "<span hidden data-live-summary>My work updated: 3 held, 2 waiting in my queues</span>" in rows.text
    )


def test_my_work_of_someone_the_router_does_not_know(client: TestClient, upstream: Recorder) -> None:
    upstream.answers[("GET", "/v1/incidents")] = {"items": [], "next_cursor": None}
    sign_in(client, READER, T0)
    page = client.get("/my-work")
    assert page.status_code == 200
    assert upstream.asked("GET", "/v1/incidents")[0].url.params["assignee"] == "bob"  # the key's name
    assert "bob is not an agent of the router" in page.text and "You hold no open incident." in page.text
    assert "availability" not in page.text


def test_my_work_when_the_router_is_down_still_shows_what_i_hold(
    client: TestClient, upstream: Recorder
) -> None:
    upstream.answers[("GET", "/v1/incidents")] = incidents_answer

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    upstream.answers[("GET", "/v1/agents/alice")] = down
    sign_in(client, WRITER, T0)
    page = client.get("/my-work")
    assert page.status_code == 200 and ids(page.text) == [3, 2, 1]
    assert "Your queues are not known just now: router cannot be reached." in page.text


def test_going_away_needs_the_csrf_token_and_tells_the_router(client: TestClient, upstream: Recorder) -> None:
    upstream.answers[("PUT", "/v1/agents/alice/availability")] = {"name": "alice", "available": False}
    session = sign_in(client, WRITER, T0)
    refused = client.post("/my-work/availability", data={"available": "false"})
    assert refused.status_code == 403 and not upstream.asked("PUT", "/v1/agents/alice/availability")
    bad = client.post("/my-work/availability", data={"available": "maybe", "csrf_token": session.csrf_token})
    assert bad.status_code == 422 and "available: must be true or false" in bad.text
    done = client.post(
        "/my-work/availability",
        data={"available": "false", "csrf_token": session.csrf_token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/my-work?done=away"
    (put,) = upstream.asked("PUT", "/v1/agents/alice/availability")
    assert (
        json.loads(put.content) == {"available": False}
        and put.headers["authorization"] == "Bearer tl_the-key"
    )


# -- dashboard -------------------------------------------------------------------------------------


def kpis(**over: Any) -> dict[str, Any]:
    return {
        "created": 12,
        "resolved": 9,
        "reopened": 1,
        "flr": 0.5,
        "fcr": 0.25,
        "escalation_rate": {"L1": 0.4, "L2": None, "L3": 0.0, "total": 0.3},
        "mtta_seconds": 300,
        "mtta_p50_seconds": 200,
        "mtta_p90_seconds": 900,
        "mttr_seconds": 5400,
        "mttr_p50_seconds": 3600,
        "mttr_p90_seconds": 10800,
        "aht_seconds": 1200,
        "reopen_rate": 0.1,
        "csat": {"responses": 3, "average": 4.333, "good_ratio": 0.6667},
        "knowledge_link_rate": None,
        "sla": {"response_met_ratio": 0.875, "resolution_met_ratio": None, "breached": 2},
        "vendor": None,
        **over,
    }


def report(request: httpx.Request) -> dict[str, Any]:
    params = request.url.params
    base = {
        "from": params["from"],
        "to": params["to"],
        "group_by": params.get("group_by"),
        "interval": params.get("interval"),
    }
    if params.get("group_by") == "tier":
        return {**base, "total": kpis(), "groups": [{**kpis(created=7), "key": "L1"}], "series": []}
    if params.get("group_by") == "vendor":
        card = {
            "handed_off": 2,
            "acknowledged": 2,
            "resolved": 1,
            "rejected": 0,
            "failed": 0,
            "mtta_seconds": 600,
            "mttr_seconds": None,
            "response_met_ratio": 1.0,
            "resolution_met_ratio": None,
        }
        return {
            **base,
            "total": kpis(),
            "groups": [{**kpis(vendor=card), "key": "acme"}, {**kpis(), "key": None}],
            "series": [],
        }
    series = [
        {
            "start": "2026-03-19T00:00:00Z",
            "end": "2026-03-20T00:00:00Z",
            "total": kpis(created=5, fcr=None),
            "groups": [],
        },
        {
            "start": "2026-03-20T00:00:00Z",
            "end": "2026-03-21T00:00:00Z",
            "total": kpis(created=7),
            "groups": [],
        },
    ]
    return {**base, "total": kpis(), "groups": [], "series": series}


BACKLOG = {
    "at": "2026-03-20T09:00:00Z",
    "interval": None,
    "open": 5,
    "buckets": {"lt_10d": 3, "10d_30d": 1, "gt_30d": 1},
    "oldest_age_seconds": 35 * 86400,
    "by_tier": [
        {"key": "L1", "open": 5, "buckets": {"lt_10d": 3, "10d_30d": 1, "gt_30d": 1}, "oldest_age_seconds": 1}
    ],
    "by_queue": [],
    "by_priority": [],
    "completion": {
        "from": "x",
        "to": "y",
        "open_at_start": 1,
        "created": 12,
        "resolved": 9,
        "open_at_end": 4,
        "completion_rate": 0.6923,
    },
    "series": [],
}


def test_the_dashboard_shows_every_figure_as_text_and_charts_from_data(
    client: TestClient, upstream: Recorder
) -> None:
    upstream.answers[("GET", "/v1/reports/kpis")] = report
    upstream.answers[("GET", "/v1/reports/backlog")] = BACKLOG
    sign_in(client, READER, T0)

    page = client.get("/dashboard", params={"days": "7"})

    assert page.status_code == 200, page.text
    calls = upstream.asked("GET", "/v1/reports/kpis")
    assert {c.url.params.get("interval") for c in calls} == {"day", None}
    assert {c.url.params.get("group_by") for c in calls} == {"tier", "vendor", None}
    assert all(
        c.url.params["from"] == "2026-03-14T00:00:00+00:00"
        and c.url.params["to"] == "2026-03-21T00:00:00+00:00"
        for c in calls
    )
    (backlog,) = upstream.asked("GET", "/v1/reports/backlog")
    assert backlog.url.params["at"] == T0.isoformat() and backlog.url.params["to"] == T0.isoformat()
    html = page.text
    for text in [
        "25.0%",
        "50.0%",
        "5m",
        "15m",
        "1h 30m",
        "3h",
        "87.5%",
        "4.3 / 5",
        "3 responses",
        "66.7%",
        "69.2%",
        "35d",
    ]:
        assert f">{text}<" in html or f"{text}." in html or f": {text}<" in html, text
    assert re.search(r'<th scope="row">L1</th><td>5</td><td>3</td><td>1</td><td>1</td>', html)
    assert "<td>40.0%</td><td>—</td><td>0.0%</td>" in html  # escalation rate L1, L2, L3
    assert re.search(
        r'<th scope="row">acme</th><td>2</td><td>2</td><td>1</td><td>0</td><td>0</td>'
        r"<td>10m</td><td>—</td><td>100.0%</td><td>—</td>",
        html,
    )
    assert '<th scope="row">2026-03-19</th><td>5</td><td>9</td><td>—</td>' in html
    found = re.search(r"id=\"chart-volume\"[^>]*data-chart='([^']*)'", html)
    assert found, html
    data = json.loads(found.group(1).replace("&#34;", '"'))
    assert data["labels"] == ["2026-03-19", "2026-03-20"] and data["datasets"][0]["data"] == [5, 7]
    assert '<script src="/static/vendor/chart.umd.min.js" defer></script>' in html
    assert '<script src="/static/js/dashboard.js" defer></script>' in html
    assert 'href="/dashboard?days=7" aria-current="true"' in html


def test_a_bad_period_is_a_422_page_naming_the_field_without_asking_intake(
    client: TestClient, upstream: Recorder
) -> None:
    sign_in(client, READER, T0)
    page = client.get("/dashboard", params={"from": "2026-03-10", "to": "2026-03-01"})
    assert page.status_code == 422 and "to: must not be before from" in page.text
    assert not upstream.asked("GET", "/v1/reports/kpis")


def test_the_dashboard_shows_intakes_refusal_in_words(client: TestClient, upstream: Recorder) -> None:
    upstream.answers[("GET", "/v1/reports/kpis")] = httpx.Response(
        403, json={"title": "Forbidden", "detail": "needs incidents:read"}
    )
    upstream.answers[("GET", "/v1/reports/backlog")] = BACKLOG
    sign_in(client, READER, T0)
    page = client.get("/dashboard")
    assert page.status_code == 403 and "Forbidden: needs incidents:read" in page.text


# -- admin -----------------------------------------------------------------------------------------


def admin_answers(upstream: Recorder) -> None:
    upstream.answers[("GET", "/v1/agents")] = [
        {
            "name": "ann",
            "skills": [],
            "capacity": 2,
            "available": True,
            "open_incidents": 1,
            "queues": ["desk"],
        },
        {"name": XSS, "skills": [], "capacity": 2, "available": False, "open_incidents": 0, "queues": []},
    ]
    upstream.answers[("GET", "/v1/vendors")] = [
        {
            "name": "acme",
            "webhook_url": "https://acme.example/h",
            "secrets": [],
            "callback_secrets": [],
            "products": [],
            "categories": ["storage"],
            "contract": {"response_seconds": 3600, "resolution_seconds": 28800},
            "timeout_seconds": None,
            "schedule_seconds": None,
            "enabled": True,
            "disabled_reason": None,
        },
    ]
    upstream.answers[("GET", "/v1/api-keys")] = [
        {
            "id": "00000000-0000-4000-8000-000000000001",
            "name": "grafana",
            "scopes": ["incidents:read"],
            "person": None,
            "created_at": "2026-03-01T10:00:00Z",
            "revoked_at": None,
        },
        {
            "id": "00000000-0000-4000-8000-000000000002",
            "name": "old",
            "scopes": ["admin"],
            "person": None,
            "created_at": "2026-01-01T10:00:00Z",
            "revoked_at": "2026-02-01T10:00:00Z",
        },
    ]
    upstream.answers[("GET", "/v1/queues")] = [
        {
            "name": "desk",
            "tier": "L1",
            "strategy": "round_robin",
            "services": [],
            "categories": [],
            "products": [],
            "priorities": ["P2"],
            "skills": [],
            "agents": ["ann"],
            "held": 1,
            "waiting": 3,
            "rank": 1,
        }
    ]
    upstream.answers[("GET", "/v1/escalation-policies")] = [
        {
            "name": "p1",
            "services": [],
            "priorities": ["P1"],
            "ladder": [{"tier": "L1", "budget_seconds": 900}, {"tier": "L4", "budget_seconds": None}],
            "ack_timeout_seconds": 300,
            "repeat": 2,
            "rank": 1,
        }
    ]
    upstream.answers[("GET", "/v1/sla/policies")] = [
        {
            "name": "p2",
            "priorities": ["P2"],
            "types": [],
            "services": [],
            "customers": [],
            "response_seconds": 900,
            "resolution_seconds": 14400,
            "calendar": "office",
            "pause_on": ["awaiting_customer"],
            "warnings": [0.75, 0.9],
            "rank": 1,
        }
    ]
    upstream.answers[("GET", "/v1/sla/calendars")] = [
        {
            "name": "office",
            "timezone": "Europe/Berlin",
            "hours": {"mon": ["09:00-17:00"]},
            "holidays": ["2026-12-25"],
        }
    ]


def test_admin_pages_read_each_service(client: TestClient, upstream: Recorder) -> None:
    admin_answers(upstream)
    sign_in(client, READER, T0)
    expect = {
        "/admin/queues": ['<a href="/queues/desk">desk</a>', "priorities P2", "<td>3</td>"],
        "/admin/escalation-policies": ["<li>L1 for 15m</li><li>L4</li>", "<td>5m</td>"],
        "/admin/sla": ["<td>15m</td>", "<td>4h</td>", "75%, 90%", "mon 09:00-17:00", "awaiting customer"],
        "/admin/vendors": ["response 1h, resolution 8h", "enabled"],
        "/admin/agents": ["on shift", "away", "&lt;script&gt;"],
        "/admin/api-keys": ["grafana", "revoked 01 Feb 2026 10:00 UTC"],
        "/admin": ['href="/admin/vendors"', "no <code>admin</code> scope"],
    }
    for path, texts in expect.items():
        page = client.get(path)
        assert page.status_code == 200, (path, page.text)
        for text in texts:
            assert text in page.text, (path, text)
        assert "<button" not in page.text.split("</header>")[1], path  # a reader gets no edit buttons
        assert XSS not in page.text


def test_admin_edit_buttons_follow_the_scopes(client: TestClient, upstream: Recorder) -> None:
    admin_answers(upstream)
    sign_in(client, WRITER, T0)
    agents = client.get("/admin/agents").text
    assert 'action="/admin/agents/ann/availability"' in agents and "Set away" in agents
    assert 'action="/admin/agents/%3Cscript%3Ealert%281%29%3C/script%3E/availability"' in agents
    assert "Disable" not in client.get("/admin/vendors").text  # vendors take admin
    sign_in(client, ADMIN, T0)
    vendors = client.get("/admin/vendors").text
    assert 'action="/admin/vendors/acme/disable"' in vendors and 'name="reason"' in vendors
    keys = client.get("/admin/api-keys").text
    assert (
        keys.count(">Revoke<") == 1
        and 'action="/admin/api-keys/00000000-0000-4000-8000-000000000001/revoke"' in keys
    )


def test_admin_edits_need_the_csrf_token_and_go_upstream_with_the_key(
    client: TestClient, upstream: Recorder
) -> None:
    upstream.answers[("PUT", "/v1/agents/ann/availability")] = {"name": "ann", "available": False}
    upstream.answers[("POST", "/v1/vendors/acme/disable")] = {"name": "acme", "enabled": False}
    upstream.answers[("POST", "/v1/vendors/acme/enable")] = {"name": "acme", "enabled": True}
    upstream.answers[("DELETE", "/v1/api-keys/00000000-0000-4000-8000-000000000001")] = None
    session = sign_in(client, ADMIN, T0)
    token = session.csrf_token
    for path, data in [
        ("/admin/agents/ann/availability", {"available": "false"}),
        ("/admin/vendors/acme/disable", {"reason": "contract ended"}),
        ("/admin/api-keys/00000000-0000-4000-8000-000000000001/revoke", {}),
    ]:
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403, path
    assert len(upstream.requests) == 0

    def post(path: str, **data: str) -> httpx.Response:
        return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)

    assert (
        post("/admin/agents/ann/availability", available="false").headers["location"]
        == "/admin/agents?done=away"
    )
    assert (
        post("/admin/vendors/acme/disable", reason=" contract ended ").headers["location"]
        == "/admin/vendors?done=disabled"
    )
    assert post("/admin/vendors/acme/enable").headers["location"] == "/admin/vendors?done=enabled"
    revoke = post("/admin/api-keys/00000000-0000-4000-8000-000000000001/revoke")
    assert revoke.headers["location"] == "/admin/api-keys?done=revoked"
    assert [(r.method, r.url.path) for r in upstream.requests] == [
        ("PUT", "/v1/agents/ann/availability"),
        ("POST", "/v1/vendors/acme/disable"),
        ("POST", "/v1/vendors/acme/enable"),
        ("DELETE", "/v1/api-keys/00000000-0000-4000-8000-000000000001"),
    ]
    assert json.loads(upstream.requests[1].content) == {"reason": "contract ended"}
    assert all(r.headers["authorization"] == "Bearer tl_the-key" for r in upstream.requests)

    assert post("/admin/vendors/acme/delete").status_code == 422
    assert post("/admin/vendors/acme/disable", reason="x" * 501).status_code == 422
    assert "key_id: not a key" in post("/admin/api-keys/nope/revoke").text
    assert post("/admin/agents/ann/availability", available="").status_code == 422
    assert len(upstream.requests) == 4  # none of the bad ones went upstream


def test_an_admin_edit_refused_upstream_is_shown_in_words(client: TestClient, upstream: Recorder) -> None:
    upstream.answers[("POST", "/v1/vendors/acme/enable")] = httpx.Response(
        403, json={"title": "Forbidden", "detail": "this needs the admin scope"}
    )
    session = sign_in(client, WRITER, T0)
    page = client.post("/admin/vendors/acme/enable", data={"csrf_token": session.csrf_token})
    assert page.status_code == 403 and "Forbidden: this needs the admin scope" in page.text
