"""Each command's request and output, against a recorded fake HTTP transport (unit level)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from tierline_cli.__main__ import cli
from tierline_cli.app import App

INCIDENT_ID = "3f1c2b7e-8a41-4c55-9d2e-6f1b0a9c7d11"
INCIDENT = {
    "id": INCIDENT_ID,
    "title": "VPN down",
    "priority": "P3",
    "status": "open",
    "tier": None,
    "assignee": None,
    "occurrences": 1,
}
PROBLEM = {
    "type": "https://tierline.dev/problems/validation-error",
    "title": "Your request is not valid",
    "status": 422,
    "detail": "Invalid field(s): priority",
    "errors": [{"field": "priority", "reason": "Input should be 'P1', 'P2', 'P3' or 'P4'"}],
}


class Recorder:
    """A fake transport: answers from ``reply`` and keeps every request it got."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def run(
    args: list[str],
    reply: Callable[[httpx.Request], httpx.Response],
    environ: dict[str, str] | None = None,
    cwd: Path = Path("/"),
) -> tuple[Result, Recorder]:
    recorder = Recorder(reply)
    app = App(environ={"TIERLINE_KEY": "tl_test"} if environ is None else environ, cwd=cwd)
    app.transport = httpx.MockTransport(recorder)
    return CliRunner().invoke(cli, args, obj=app), recorder


def answer(status: int, body: object = None) -> Callable[[httpx.Request], httpx.Response]:
    if status == 204:
        return lambda request: httpx.Response(204)
    media = "application/problem+json" if status >= 400 else "application/json"
    return lambda request: httpx.Response(status, json=body, headers={"content-type": media})


def test_create_sends_the_defaults_and_the_key() -> None:
    result, sent = run(
        ["incidents", "create", "--title", "VPN down", "--service", "vpn", "--category", "network",
         "--reporter", "bob"],
        answer(201, INCIDENT),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = sent.last
    assert (request.method, str(request.url)) == ("POST", "http://127.0.0.1:8001/v1/incidents")
    assert request.headers["authorization"] == "Bearer tl_test"
    assert json.loads(request.content) == {
        "title": "VPN down",
        "service": "vpn",
        "category": "network",
        "description": "",
        "impact": "medium",
        "urgency": "medium",
        "channel": "api",
        "reporter": "bob",
    }
    assert result.stdout.startswith(f"created {INCIDENT_ID}: P3 open")


def test_an_explicit_priority_sends_no_made_up_impact() -> None:
    _, sent = run(
        ["incidents", "create", "--title", "t", "--service", "s", "--category", "c", "--priority", "P1"],
        answer(201, INCIDENT),
    )
    body = json.loads(sent.last.content)
    assert body["priority"] == "P1" and "impact" not in body and "urgency" not in body


def test_list_passes_filters_and_offers_the_next_page() -> None:
    page = {
        "items": [{**INCIDENT, "service": "vpn", "created_at": "2026-11-23T13:00:00Z"}],
        "next_cursor": "abc",
    }
    result, sent = run(
        [
            "incidents",
            "list",
            "--status",
            "open",
            "--status",
            "acknowledged",
            "--priority",
            "P1",
            "--limit",
            "5",
        ],
        answer(200, page),
    )
    assert result.exit_code == 0, result.output
    assert sent.last.url.params.multi_items() == [
        ("status", "open"),
        ("status", "acknowledged"),
        ("priority", "P1"),
        ("limit", "5"),
    ]
    assert INCIDENT_ID in result.stdout and "VPN down" in result.stdout
    assert "more: add --cursor abc" in result.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_prints_the_api_answer_as_it_came(where: str) -> None:
    page = {"items": [], "next_cursor": None}
    args = ["incidents", "list", "--json"] if where == "after" else ["--json", "incidents", "list"]
    result, _ = run(args, answer(200, page))
    assert json.loads(result.stdout) == page


def test_a_problem_is_one_line_on_stderr_and_exit_code_1() -> None:
    result, _ = run(
        ["incidents", "create", "--title", "t", "--service", "s", "--category", "c", "--priority", "P9"],
        answer(422, PROBLEM),
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: 422 Your request is not valid: Invalid field(s): priority "
        "(priority: Input should be 'P1', 'P2', 'P3' or 'P4')\n"
    )


def test_without_a_key_a_401_says_where_keys_come_from(tmp_path: Path) -> None:
    unauthorized = {"title": "Unauthorized", "status": 401, "detail": "Missing API key."}
    result, sent = run(["queues", "list"], answer(401, unauthorized), environ={}, cwd=tmp_path)
    assert "authorization" not in sent.last.headers
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: 401 Unauthorized: Missing API key. - no API key found: set TIERLINE_KEY"
    )
    assert result.stderr.count("\n") == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_service_that_is_not_running_is_one_line_suggesting_make_run() -> None:
    port = _closed_port()
    app = App(environ={"TIERLINE_URL": f"http://127.0.0.1:{port}", "TIERLINE_KEY": "k"})
    result = CliRunner().invoke(cli, ["incidents", "show", INCIDENT_ID], obj=app)
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert result.stderr == (
        f"Error: intake is not reachable at http://127.0.0.1:{port}: is Tierline running? "
        "Start it with `make run`, or point TIERLINE_URL at it.\n"
    )


def test_escalate_goes_to_the_router() -> None:
    assignment = {"incident_id": INCIDENT_ID, "tier": "L2", "queue": "network-ops", "assignee": "dave"}
    result, sent = run(["incidents", "escalate", INCIDENT_ID, "--note", "VIP"], answer(200, assignment))
    assert str(sent.last.url) == f"http://127.0.0.1:8002/v1/incidents/{INCIDENT_ID}/escalate"
    assert json.loads(sent.last.content) == {"note": "VIP"}
    assert result.stdout.strip() == f"escalated {INCIDENT_ID}: now L2 (network-ops, dave)"


@pytest.mark.parametrize(("command", "available"), [("away", False), ("back", True)])
def test_away_and_back_set_availability(command: str, available: bool) -> None:
    agent = {
        "name": "a/b",
        "available": available,
        "skills": [],
        "capacity": 5,
        "open_incidents": 0,
        "queues": [],
    }
    result, sent = run(["agents", command, "a/b"], answer(200, agent))
    assert result.exit_code == 0, result.output
    assert (sent.last.method, sent.last.url.raw_path) == ("PUT", b"/v1/agents/a%2Fb/availability")
    assert json.loads(sent.last.content) == {"available": available}


def test_actions_post_to_intake_with_only_what_was_given() -> None:
    result, sent = run(["incidents", "resolve", INCIDENT_ID, "--code", "fixed"], answer(200, INCIDENT))
    assert str(sent.last.url) == f"http://127.0.0.1:8001/v1/incidents/{INCIDENT_ID}/resolve"
    assert json.loads(sent.last.content) == {"resolution_code": "fixed"}
    assert result.stdout.startswith(f"resolved {INCIDENT_ID}: P3 open")
    _, sent = run(["incidents", "note", INCIDENT_ID, "Vendor on site"], answer(201, INCIDENT))
    assert str(sent.last.url).endswith("/notes") and json.loads(sent.last.content) == {
        "text": "Vendor on site"
    }


def test_keys_revoke_deletes_and_says_so() -> None:
    result, sent = run(["keys", "revoke", "k1"], answer(204))
    assert (sent.last.method, str(sent.last.url)) == ("DELETE", "http://127.0.0.1:8001/v1/api-keys/k1")
    assert result.stdout.strip() == "revoked k1"


def test_sla_clocks_ask_the_sla_monitor() -> None:
    clocks = [
        {"kind": "response", "state": "running", "target_seconds": 900, "elapsed_seconds": 60,
         "remaining_seconds": 840, "due_at": "2999-01-01T00:00:00Z", "policy": "p1", "calendar": "24x7"},
    ]  # fmt: skip
    result, sent = run(["sla", "clocks", INCIDENT_ID], answer(200, clocks))
    assert str(sent.last.url) == f"http://127.0.0.1:8003/v1/sla/clocks?incident_id={INCIDENT_ID}"
    assert "response" in result.stdout and "15m" in result.stdout and "14m" in result.stdout
