"""The `tierline` command against the whole system: four service processes, real Kafka and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.e2e.conftest import ADMIN_KEY, System, new_secret, running_system
from tierline_cli.__main__ import cli
from tierline_cli.app import App

pytestmark = pytest.mark.e2e
INCIDENT = [
    "--title", "Core VPN concentrator dropping tunnels", "--service", "vpn", "--category", "network",
    "--impact", "high", "--urgency", "high", "--channel", "monitoring", "--reporter", "nagios",
]  # fmt: skip


@pytest.fixture(scope="module")
def system(infra) -> Iterator[System]:
    with running_system(infra) as running:
        yield running


def environment(system: System, key: str = ADMIN_KEY) -> dict[str, str]:
    """What a user exports: intake's URL and a key; the test system's other services are on free ports."""
    return {
        "TIERLINE_URL": system.url("intake"),
        "TIERLINE_ROUTER_URL": system.url("router"),
        "TIERLINE_SLA_URL": system.url("sla-monitor"),
        "TIERLINE_GATEWAY_URL": system.url("vendor-gateway"),
        "TIERLINE_KEY": key,
    }


def tierline(system: System, *args: str, key: str = ADMIN_KEY) -> Result:
    return CliRunner().invoke(cli, list(args), obj=App(environ=environment(system, key)))


def ok_json(system: System, *args: str, key: str = ADMIN_KEY) -> Any:
    result = tierline(system, *args, "--json", key=key)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def until(probe: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll until probe() is truthy; fail at the deadline with what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if seen:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)


def test_an_incident_s_life_from_the_command_line(system: System) -> None:
    created = ok_json(system, "incidents", "create", *INCIDENT)
    incident_id = created["id"]
    assert (created["priority"], created["status"], created["channel"]) == ("P1", "open", "monitoring")

    listed = ok_json(system, "incidents", "list", "--service", "vpn", "--priority", "P1", "--status", "open")
    assert incident_id in [i["id"] for i in listed["items"]]
    table = tierline(system, "incidents", "list", "--service", "vpn")
    assert table.exit_code == 0 and incident_id in table.stdout

    # The router assigns it and intake's timeline records that: `show` reads it all from intake.
    shown = until(
        lambda: (
            (r := tierline(system, "incidents", "show", incident_id)).exit_code == 0
            and "assigned" in r.stdout
            and r.stdout
        ),
        "the assignment on the timeline",
    )
    assert "Timeline" in shown and "created" in shown and "SLA" in shown and "nagios via monitoring" in shown

    escalated = ok_json(system, "incidents", "escalate", incident_id, "--note", "VIP customer")
    assert escalated["incident_id"] == incident_id and escalated["tier"] in ("L2", "L3", "L4")

    acked = ok_json(system, "incidents", "ack", incident_id, "--by", "dave")
    assert acked["status"] == "acknowledged" and acked["acknowledged_at"]

    noted = tierline(system, "incidents", "note", incident_id, "Swapped the line card", "--author", "dave")
    assert noted.exit_code == 0 and noted.stdout.startswith(f"noted on {incident_id}")
    notes = [e for e in ok_json(system, "incidents", "show", incident_id)["timeline"] if e["kind"] == "note"]
    assert any("Swapped the line card" in json.dumps(e) for e in notes)

    clocks = until(
        lambda: [c["kind"] for c in ok_json(system, "sla", "clocks", incident_id)],
        "the SLA monitor's clocks",
    )
    assert "response" in clocks and "resolution" in clocks

    resolved = ok_json(system, "incidents", "resolve", incident_id, "--code", "fixed", "--note", "Line card")
    assert resolved["status"] == "resolved" and resolved["resolution_code"] == "fixed"


def test_finds_make_run_s_key_and_ports_by_itself(system: System, tmp_path) -> None:
    """No TIERLINE_URL or TIERLINE_KEY: the key `make run` keeps in the checkout's .run/, its ports."""
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "dev-api-key").write_text(ADMIN_KEY + "\n")
    nested = tmp_path / "services" / "intake"
    nested.mkdir(parents=True)
    ports = {
        f"TIERLINE_RUN_{name.replace('-', '_').upper()}_PORT": str(port)
        for name, port in system.services.ports.items()
    }
    result = CliRunner().invoke(cli, ["agents", "list", "--json"], obj=App(environ=ports, cwd=nested))
    assert result.exit_code == 0, result.output
    assert "alice" in [a["name"] for a in json.loads(result.stdout)]


def test_keys_create_list_revoke(system: System) -> None:
    name = f"cli-e2e-{uuid.uuid4().hex[:6]}"
    issued = ok_json(system, "keys", "create", "--name", name, "--scope", "incidents:read")
    assert issued["key"].startswith("tl_") and issued["scopes"] == ["incidents:read"]
    assert tierline(system, "incidents", "list", "--limit", "1", key=issued["key"]).exit_code == 0

    listed = {k["id"]: k for k in ok_json(system, "keys", "list")}
    assert listed[issued["id"]]["name"] == name and listed[issued["id"]]["revoked_at"] is None
    assert name in tierline(system, "keys", "list").stdout

    revoked = tierline(system, "keys", "revoke", issued["id"])
    assert revoked.exit_code == 0 and revoked.stdout.strip() == f"revoked {issued['id']}"
    assert {k["id"]: k for k in ok_json(system, "keys", "list")}[issued["id"]]["revoked_at"]
    refused = tierline(system, "incidents", "list", "--limit", "1", key=issued["key"])
    assert refused.exit_code == 1 and refused.stderr.startswith("Error: 401 ")


def test_a_bad_priority_is_one_line_on_stderr_and_exit_code_1(system: System) -> None:
    """The installed command as a process: the problem+json answer in one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "tierline_cli", "incidents", "create", "--title", "x", "--service", "vpn",
         "--category", "network", "--priority", "P9"],
        env={**os.environ, **environment(system)},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "Error: 422 Your request is not valid: Invalid field(s): priority (priority: "
    )


def test_queues_agents_and_vendors(system: System) -> None:
    assert "service-desk" in [q["name"] for q in ok_json(system, "queues", "list")]
    assert ok_json(system, "queues", "show", "service-desk")["tier"] == "L1"
    assert "erin" in tierline(system, "agents", "list").stdout
    assert ok_json(system, "agents", "away", "erin")["available"] is False
    assert ok_json(system, "agents", "show", "erin")["available"] is False
    assert ok_json(system, "agents", "back", "erin")["available"] is True
    assert [v["name"] for v in ok_json(system, "vendors", "list")] == [system.vendor_name]
    missing = tierline(system, "queues", "show", "no-such-queue")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: 404 ")


def test_a_signed_callback_passes_the_gateway_s_signature_check(system: System) -> None:
    """Signed with the vendor's callback secret it gets past the signature to the case lookup (404);
    signed with another secret it is refused (401)."""
    args = [
        "vendors",
        "sign-callback",
        system.vendor_name,
        "--case",
        str(uuid.uuid4()),
        "--action",
        "acknowledged",
    ]
    right = tierline(system, *args, "--secret", system.callback_secret, "--send")
    assert right.exit_code == 1 and right.stderr.startswith("Error: 404 "), right.stderr
    wrong = tierline(system, *args, "--secret", new_secret(), "--send")
    assert wrong.exit_code == 1 and wrong.stderr.startswith("Error: 401 "), wrong.stderr


def test_hold_resume_resolve_reopen_close_from_the_command_line(system: System) -> None:
    incident_id = ok_json(system, "incidents", "create", *INCIDENT)["id"]
    held = ok_json(system, "incidents", "hold", incident_id, "--reason", "awaiting_customer", "--by", "dave")
    assert held["status"] == "on_hold"
    assert ok_json(system, "incidents", "resume", incident_id)["status"] == "open"
    ok_json(system, "incidents", "resolve", incident_id, "--code", "fixed")
    assert ok_json(system, "incidents", "reopen", incident_id, "--reason", "came back")["status"] == "open"
    ok_json(system, "incidents", "resolve", incident_id, "--code", "fixed")
    closed = tierline(system, "incidents", "close", incident_id)
    assert closed.exit_code == 0 and closed.stdout.startswith(f"closed {incident_id}")

    # A move the lifecycle forbids is the server's 409, as one line.
    refused = tierline(system, "incidents", "hold", incident_id, "--reason", "awaiting_customer")
    assert refused.exit_code == 1 and "409" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    bad_reason = tierline(system, "incidents", "hold", incident_id, "--reason", "lunch")
    assert bad_reason.exit_code == 2 and "lunch" in bad_reason.stderr  # refused before any request
