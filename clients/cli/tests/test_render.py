"""Output for people: problem lines, times and durations, tables that show API text as text."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from tierline_cli import render
from tierline_cli.client import problem_line
from tierline_cli.commands.incidents import incident_view

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
VALIDATION = {
    "type": "https://tierline.dev/problems/validation-error",
    "title": "Your request is not valid",
    "status": 422,
    "detail": "Invalid field(s): channel, priority",
    "instance": "/v1/incidents",
    "errors": [
        {"field": "priority", "reason": "Input should be 'P1', 'P2', 'P3' or 'P4'", "pointer": "/priority"},
        {"field": "channel", "reason": "Field required", "pointer": "/channel"},
    ],
}


def _text(*renderables) -> str:
    out = Console(width=160, file=io.StringIO())
    for r in renderables:
        out.print(r)
    return out.file.getvalue()


def test_a_validation_problem_is_one_line_naming_each_field() -> None:
    assert problem_line(422, VALIDATION) == (
        "422 Your request is not valid: Invalid field(s): channel, priority "
        "(priority: Input should be 'P1', 'P2', 'P3' or 'P4'; channel: Field required)"
    )


def test_a_problem_without_errors_or_a_detail_repeating_its_title() -> None:
    conflict = {"title": "Conflict", "status": 409, "detail": "Incident is resolved;\ncannot acknowledge."}
    assert problem_line(409, conflict) == "409 Conflict: Incident is resolved; cannot acknowledge."
    assert problem_line(404, {"title": "Not Found", "detail": "Not Found"}) == "404 Not Found"


def test_an_error_that_is_not_a_problem() -> None:
    assert problem_line(502, None, "<html>\n<body>Bad gateway</body></html>") == (
        "502 Bad Gateway: <html> <body>Bad gateway</body></html>"
    )
    assert problem_line(503, ["not", "a", "problem"], "") == "503 Service Unavailable"
    assert problem_line(599, None, "") == "599 Error"


def test_times_and_durations() -> None:
    assert render.when("2026-11-23T14:05:07.123456+01:00") == "2026-11-23 13:05:07Z"
    assert render.when(None) == "-"
    assert [render.duration(s) for s in (0, 45, 250, 5400, 183600)] == [
        "0s",
        "45s",
        "4m 10s",
        "1h 30m",
        "2d 3h",
    ]
    assert render.relative("2026-11-23T17:58:00Z", NOW) == "in 3h 58m"
    assert render.relative("2026-11-23T13:48:00+00:00", NOW) == "12m ago"


def test_api_text_is_never_read_as_markup() -> None:
    rows = [{"id": "1", "title": "[red]VPN[/red] down [/] [link=x]"}]
    shown = _text(render.table([("id", "id"), ("title", "title")], rows))
    assert "[red]VPN[/red] down [/] [link=x]" in shown


def test_an_incident_shows_its_fields_sla_and_timeline() -> None:
    incident = {
        "id": "3f1c2b7e-8a41-4c55-9d2e-6f1b0a9c7d11",
        "title": "VPN down for sales",
        "status": "on_hold",
        "hold_reason": "awaiting_customer",
        "priority": "P1",
        "priority_source": "matrix",
        "impact": "high",
        "urgency": "high",
        "service": "vpn",
        "category": "network",
        "tier": "L2",
        "assignee": "dave",
        "reporter": "alice@example.com",
        "channel": "web",
        "created_at": "2026-11-23T13:00:00Z",
        "sla": {
            "response": {
                "state": "met",
                "due_at": "2026-11-23T13:15:00Z",
                "breached": False,
                "met_at": "2026-11-23T13:04:00Z",
            },
            "resolution": {"state": "paused", "due_at": None, "remaining_seconds": 9000, "breached": False},
            "tier": {"state": "running", "due_at": "2026-11-23T15:00:00Z", "breached": False, "tier": "L2"},
        },
        "timeline": [
            {
                "at": "2026-11-23T13:00:00Z",
                "kind": "created",
                "summary": "Created via web",
                "source": "intake",
            },
            {
                "at": "2026-11-23T13:00:01Z",
                "kind": "assigned",
                "summary": "L1 service-desk -> alice",
                "source": "router",
            },
        ],
    }
    shown = _text(*incident_view(incident, NOW))
    assert "on_hold (awaiting_customer)" in shown and "P1 (matrix)" in shown
    assert "alice@example.com via web" in shown
    assert "met 2026-11-23 13:04:00Z" in shown
    assert "paused, 2h 30m left" in shown
    assert "tier (L2)" in shown and "in 1h" in shown
    assert "L1 service-desk -> alice" in shown and "router" in shown
