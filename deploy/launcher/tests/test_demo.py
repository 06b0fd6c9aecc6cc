"""`make demo`: an incident climbs L1 → L4, reaches the vendor simulator and comes back resolved."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tierline_launcher import demo
from tierline_launcher.postgres import reachable_data_root, run_as
from tierline_launcher.procs import free_port
from tierline_launcher.system import SERVICES


def test_demo_config_shortens_every_human_tier_and_keeps_the_rest(tmp_path: Path) -> None:
    demo.write_config(tmp_path)
    router = yaml.safe_load((tmp_path / "router.yaml").read_text())
    for policy in router["escalation_policies"]:
        assert "ack_timeout" not in policy
        for step in policy["ladder"]:
            assert step.get("budget") == (None if step["tier"] == "L4" else demo.TIER_BUDGET), policy["name"]
    sla = yaml.safe_load((tmp_path / "sla.yaml").read_text())
    assert sla["default_tier_budgets"] == {"L1": "5s", "L2": "5s", "L3": "5s"}
    assert sla["policies"]  # the shipped policies stay
    shipped = demo.repo_root() / "deploy" / "config" / "vendors.yaml"
    assert (tmp_path / "vendors.yaml").read_text() == shipped.read_text()


def test_the_demo_vendor_secrets_are_the_ones_the_gateway_resolves(tmp_path: Path, monkeypatch) -> None:
    demo.write_config(tmp_path)
    webhook, callback = demo.vendor_secrets(tmp_path, demo.DEMO_VENDOR)
    assert webhook.startswith("whsec_") and callback.startswith("whsec_") and webhook != callback
    monkeypatch.setenv("TIERLINE_VENDOR_ACME_NETWORKS_WEBHOOK_SECRET", "whsec_" + "A" * 44)
    assert demo.vendor_secrets(tmp_path, demo.DEMO_VENDOR)[0] == "whsec_" + "A" * 44


@pytest.mark.e2e
def test_make_demo_tells_an_incident_reaching_the_vendor_and_coming_back_resolved() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="tierline-demo-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env |= {
        "TIERLINE_RUN_DIR": str(run_dir),
        "TIERLINE_RUN_POSTGRES_PORT": str(free_port()),
        "TIERLINE_RUN_KAFKA_PORT": str(free_port()),
        "TIERLINE_RUN_KAFKA_CONTROLLER_PORT": str(free_port()),
        "TIERLINE_DEMO_VENDOR_PORT": str(free_port()),
        **{f"TIERLINE_RUN_{s.env_name}_PORT": str(free_port()) for s in SERVICES},
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tierline_launcher", "demo", "--exit-when-done"],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
    finally:
        shutil.rmtree(reachable_data_root(run_dir / "demo" / "postgres", run_as()), ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    story = done.stdout
    assert done.returncode == 0, story[-3000:] + done.stderr[-3000:]
    assert story.count("  posted P") == len(demo.INCIDENTS)
    for step in ("Escalated L1 -> L2", "Escalated L2 -> L3", "Escalated L3 -> L4", "vendor_case_opened"):
        assert step in story, step
    # the final timeline: resolved by the vendor, within a minute of its creation
    final = story.split("\nTimeline of ", 1)[1]
    resolved = re.search(r"\+\s*([\d.]+)s\s+resolved\s+Resolved by acme-networks", final)
    assert resolved, final
    assert float(resolved.group(1)) < 60
