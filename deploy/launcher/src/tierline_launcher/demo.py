"""`make demo`: the whole system on demo budgets, a vendor simulator, and one incident's story told live.

The stack runs from a fresh folder (``<run dir>/demo``) with the shipped configuration,
except that every tier may hold an incident for a few seconds only, so the demo incident
climbs L1 → L2 → L3 → L4 in about half a minute; the vendor simulator takes the handoff
and calls back "acknowledged" then "resolved".
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from tierline_launcher.paths import repo_root
from tierline_launcher.procs import ManagedProcess, free_port, wait_until

TIER_BUDGET = "5s"
DEMO_VENDOR = "acme-networks"
STORY_TIMEOUT = 120.0

# A morning at the desk: the first one is the story, the others show the other channels.
INCIDENTS: list[dict[str, Any]] = [
    {
        "title": "VPN concentrator dropping every tunnel",
        "description": "Remote staff are disconnected every few minutes since 09:10.",
        "service": "vpn",
        "category": "network",
        "impact": "high",
        "urgency": "high",
        "channel": "monitoring",
        "reporter": "alertmanager",
    },
    {
        "title": "Cannot open shared mailbox 'finance'",
        "service": "mail",
        "category": "email",
        "impact": "medium",
        "urgency": "medium",
        "channel": "email",
        "reporter": "carol@example.com",
    },
    {
        "title": "Laptop docking station does not charge",
        "service": "workplace",
        "category": "hardware",
        "impact": "low",
        "urgency": "medium",
        "channel": "phone",
        "reporter": "dan@example.com",
    },
    {
        "title": "Password reset for the HR portal",
        "service": "identity",
        "category": "access",
        "impact": "low",
        "urgency": "low",
        "channel": "chat",
        "reporter": "erin@example.com",
    },
]


def write_config(folder: Path) -> None:
    """The shipped configuration, with seconds-long tier budgets and nobody paged twice."""
    source = repo_root() / "deploy" / "config"
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copytree(source / "templates", folder / "templates", dirs_exist_ok=True)  # the notifier's
    router = yaml.safe_load((source / "router.yaml").read_text())
    for policy in router.get("escalation_policies", []):
        policy["ladder"] = [
            {**step, "budget": TIER_BUDGET} if step.get("tier") != "L4" else step
            for step in policy.get("ladder", [])
        ]
        policy.pop("ack_timeout", None)
    (folder / "router.yaml").write_text(yaml.safe_dump(router, sort_keys=False))
    sla = yaml.safe_load((source / "sla.yaml").read_text())
    sla["default_tier_budgets"] = dict.fromkeys(("L1", "L2", "L3"), TIER_BUDGET)
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla, sort_keys=False))


def vendor_secrets(config: Path, vendor: str) -> tuple[str, str]:
    """The vendor's webhook and callback secrets as the gateway will resolve them (env, else default)."""
    vendors = yaml.safe_load((config / "vendors.yaml").read_text())["vendors"]
    [entry] = [v for v in vendors if v["name"] == vendor]

    def resolve(source: Any) -> str:
        if isinstance(source, str):
            return source
        return os.environ.get(source["env"]) or source["default"]

    return resolve(entry["secrets"][0]), resolve(entry["callback_secrets"][0])


def webhook_url_variable(vendor: str) -> str:
    return f"TIERLINE_VENDOR_{vendor.replace('-', '_').upper()}_WEBHOOK_URL"


def start_simulator(root: Path, config: Path, port: int) -> ManagedProcess:
    webhook_secret, callback_secret = vendor_secrets(config, DEMO_VENDOR)
    simulator = ManagedProcess(
        "vendor-simulator",
        [
            sys.executable,
            "-m",
            "tierline_launcher.vendor_simulator",
            "--port",
            str(port),
            "--webhook-secret",
            webhook_secret,
            "--callback-secret",
            callback_secret,
            "--vendor",
            DEMO_VENDOR,
        ],
        log_path=root / "logs" / "vendor-simulator.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{url}/received"), timeout=30, what="the simulator", alive=simulator.alive)
    # Take every case, acknowledge it, then resolve it.
    httpx.post(f"{url}/control", json={"mode": "ok", "callbacks": ["acknowledged", "resolved"]}, timeout=5)
    return simulator


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Story:
    """Posts the morning's incidents and narrates the first one's timeline as it grows."""

    def __init__(self, intake: str, api_key: str, out: Callable[[str], None] = print) -> None:
        self.http = httpx.Client(base_url=intake, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        self.out = out

    def post_incidents(self) -> str:
        ids = []
        for body in INCIDENTS:
            answer = self.http.post("/v1/incidents", json=body)
            answer.raise_for_status()
            incident = answer.json()
            ids.append(incident["id"])
            self.out(
                f"  posted {incident['priority']} via {body['channel']:<10} {incident['title']!r} "
                f"({incident['id']})"
            )
        return ids[0]

    def follow(self, incident_id: str, timeout: float = STORY_TIMEOUT) -> dict[str, Any]:
        """Print each new timeline entry until the incident is resolved; the final view."""
        started = time.monotonic()
        seen = 0
        while True:
            view = self.http.get(f"/v1/incidents/{incident_id}").json()
            timeline = view.get("timeline", [])
            for entry in timeline[seen:]:
                self.out(f"  [{time.monotonic() - started:5.1f}s] {entry['kind']:<26} {entry['summary']}")
            seen = len(timeline)
            if view.get("status") in ("resolved", "closed"):
                return view
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the demo incident is still {view.get('status')} at {view.get('tier')}")
            time.sleep(0.25)

    def print_timeline(self, view: dict[str, Any]) -> None:
        self.out(f"\nTimeline of {view['id']} — {view['title']} ({view['priority']}, now {view['status']}):")
        first = _at(view["timeline"][0]["at"]) if view["timeline"] else None
        for entry in view["timeline"]:
            offset = (_at(entry["at"]) - first).total_seconds() if first else 0.0
            self.out(f"  +{offset:6.1f}s  {entry['kind']:<26} {entry['summary']}")

    def close(self) -> None:
        self.http.close()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def simulator_port() -> int:
    wanted = int(os.environ.get("TIERLINE_DEMO_VENDOR_PORT", "9100"))
    return wanted if wanted else free_port()
