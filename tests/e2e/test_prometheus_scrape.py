"""A real Prometheus scrapes every running service's /metrics and evaluates the shipped alert rules.

The same checks the compose profile `observability` relies on, without Docker: Debian's
prometheus binary, a config whose static targets are the e2e system's services on 127.0.0.1,
and deploy/observability's rule file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.e2e.conftest import System
from tests.support.binaries import require
from tierline_launcher.paths import repo_root
from tierline_launcher.procs import ManagedProcess, free_port
from tierline_launcher.system import SERVICES

pytestmark = pytest.mark.e2e

RULES = repo_root() / "deploy" / "observability" / "prometheus" / "rules" / "tierline.rules.yml"
DEADLINE_SECONDS = 30


def _config(system: System) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "tierline",
                "static_configs": [
                    {"targets": [urlsplit(system.url(s.name)).netloc], "labels": {"service": s.name}}
                    for s in SERVICES
                ],
            }
        ],
    }


def _poll(probe: Callable[[], Any], *, what: str, proc: ManagedProcess) -> Any:
    """probe() until it returns something truthy; at the deadline, fail with the last value and the log."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.alive(), f"prometheus exited ({proc.returncode}):\n{proc.tail()}"
        try:
            last = probe()
        except httpx.TransportError as exc:  # not listening yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    pytest.fail(f"{what} within {DEADLINE_SECONDS}s; last: {last!r}\n--- prometheus log ---\n{proc.tail()}")


def _query(client: httpx.Client, promql: str) -> dict[str, float]:
    """{service: value} of an instant query."""
    body = client.get("/api/v1/query", params={"query": promql}).raise_for_status().json()
    assert body["status"] == "success", body
    return {r["metric"].get("service", ""): float(r["value"][1]) for r in body["data"]["result"]}


def test_prometheus_scrapes_every_service_and_evaluates_the_alert_rules(
    system: System, tmp_path: Path
) -> None:
    binary = require("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_config(system)), encoding="utf-8")
    port = free_port()
    proc = ManagedProcess(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path=tmp_path / "prometheus.log",
    )
    services = {s.name for s in SERVICES}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            _poll(
                lambda: client.get("/-/ready").status_code == 200, what="prometheus was not ready", proc=proc
            )

            def all_up() -> dict[str, float] | None:
                up = _query(client, 'up{job="tierline"}')
                return up if set(up) == services and set(up.values()) == {1.0} else None

            _poll(all_up, what="not every service was up", proc=proc)

            # what was scraped is Tierline's /metrics, not just an open port
            exporting = _query(client, 'count by (service) ({job="tierline", __name__=~"tierline_.+"})')
            assert set(exporting) == services, exporting

            def rules_healthy() -> list[dict[str, Any]] | None:
                body = client.get("/api/v1/rules").raise_for_status().json()
                rules = [rule for group in body["data"]["groups"] for rule in group["rules"]]
                return rules if rules and all(r["health"] == "ok" for r in rules) else None

            rules = _poll(rules_healthy, what="the alert rules did not all evaluate", proc=proc)
            firing = {r["name"] for r in rules if r.get("state") == "firing"}
            assert "TierlineTargetDown" not in firing, "every target is up"
    finally:
        proc.stop()
