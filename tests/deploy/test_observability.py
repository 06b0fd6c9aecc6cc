"""The observability profile's files: Prometheus config and alert rules (checked and unit-tested by promtool),
and Grafana's provisioning and Tierline dashboard, against the metrics the code really exports.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.binaries import require

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS_DIR = OBSERVABILITY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "tierline.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "tierline.rules.test.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tierline.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "tierline.yml"
COMPOSE_FILE = ROOT / "docker-compose.yml"

METRIC_SOURCES = [
    ROOT / "shared" / "src" / "tierline_shared" / "metrics.py",
    *sorted(ROOT.glob("services/*/src/*/metrics.py")),
]
# The shared consumer's lag gauge (group, topic, partition: records behind the high watermark);
# accepted while it is being added to shared/src/tierline_shared/messaging.
ANNOUNCED = {"tierline_consumer_lag"}
ALERTS = {
    "TierlineTargetDown",
    "TierlineSlaBreachesRising",
    "TierlineConsumerLagHigh",
    "TierlineOutboxLagHigh",
    "TierlineEventsDeadLettered",
    "TierlineVendorDeliveriesFailing",
    "TierlineVendorDeliveriesDead",
}
PANELS = {
    "Open incidents by tier and priority": "tierline_router_open_incidents",
    "SLA warnings and breaches": "tierline_sla_outcomes_total",
    "Consumer lag": "tierline_consumer_lag",
    "Outbox lag": "tierline_outbox_unpublished",
    "DLQ depth": 'tierline_events_consumed_total{outcome="dead_lettered"}',
    "Vendor delivery outcomes": "tierline_vendor_deliveries_total",
}


def load_yaml(path: Path) -> Any:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    binary = require("promtool")
    return subprocess.run(
        [str(binary), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def exported_metrics() -> set[str]:
    """Series names the code exports (histograms add _bucket, _sum and _count)."""
    names: set[str] = set()
    for source in METRIC_SOURCES:
        text = source.read_text(encoding="utf-8")
        for kind, name in re.findall(
            r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:][a-z0-9_:]*)\"", text
        ):
            names.add(name)
            if kind in {"Histogram", "Summary"}:
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(tierline_[a-z0-9_]+)\b", expr))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard_targets() -> list[tuple[str, dict[str, Any]]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


# ---------------------------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------------------------


def test_promtool_accepts_the_config_and_its_rules() -> None:
    result = promtool("check", "config", PROMETHEUS_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout
    result = promtool("check", "rules", str(RULES.relative_to(PROMETHEUS_DIR)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(alert_rules())} rules found" in result.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_wrong_expectation(tmp_path: Path) -> None:
    """The rule tests fail when an alert does not fire as stated (so their SUCCESS means something)."""
    tests = load_yaml(RULE_TESTS)
    tests["rule_files"] = [str(RULES)]
    case = next(t for t in tests["tests"] if t["name"] == "target down")
    case["alert_rule_test"][0]["exp_alerts"] = case["alert_rule_test"][1]["exp_alerts"]  # "fires at 4m"
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = promtool("test", "rules", broken.name, cwd=tmp_path)
    assert result.returncode != 0 and "TierlineTargetDown" in result.stdout + result.stderr


def test_every_required_alert_exists_and_is_proven_to_fire() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) >= ALERTS, f"missing alerts: {sorted(ALERTS - set(rules))}"
    fired = {
        check["alertname"]
        for case in load_yaml(RULE_TESTS)["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert set(rules) <= fired, f"no promtool test shows these firing: {sorted(set(rules) - fired)}"
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), name


def test_rules_and_dashboard_use_only_metrics_the_services_export() -> None:
    exported = exported_metrics() | ANNOUNCED
    assert "tierline_outbox_unpublished" in exported and "tierline_vendor_deliveries_total" in exported
    for rule in alert_rules():
        unknown = metrics_in(rule["expr"]) - exported
        assert not unknown, f"alert {rule['alert']} reads metrics nobody exports: {unknown}"
    for title, target in dashboard_targets():
        unknown = metrics_in(target["expr"]) - exported
        assert not unknown, f"panel {title!r} reads metrics nobody exports: {unknown}"


def test_prometheus_scrapes_every_app_service_of_the_compose_file() -> None:
    compose = load_yaml(COMPOSE_FILE)
    apps = {
        f"{name}:{service['environment']['TIERLINE_PORT']}"
        for name, service in compose["services"].items()
        if "SERVICE" in ((service.get("build") or {}).get("args") or {}) and "command" not in service
    }
    assert len(apps) == 6, apps  # five services and the console
    scraped: dict[str, str] = {}
    for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]:
        if job["job_name"] != "tierline":
            continue
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            for target in static["targets"]:
                scraped[target] = static["labels"]["service"]
    assert set(scraped) == apps
    assert all(target.split(":")[0] == service for target, service in scraped.items()), scraped
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/observability/prometheus:/etc/prometheus:ro" in mounts


# ---------------------------------------------------------------------------------------------
# Grafana
# ---------------------------------------------------------------------------------------------


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    [source] = load_yaml(DATASOURCES)["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    uids = {target.get("datasource", {}).get("uid") for _, target in dashboard_targets()}
    assert uids == {source["uid"]}, f"dashboard targets use datasources {uids}"


def test_grafana_loads_the_dashboard_folder_the_compose_file_mounts() -> None:
    [provider] = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    grafana = load_yaml(COMPOSE_FILE)["services"]["grafana"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in grafana["volumes"]}
    assert mounts["./deploy/observability/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/observability/grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_the_dashboard_has_the_panels_operators_need() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "tierline-overview" and dashboard["title"] == "Tierline"
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel.get("targets"), f"{panel['title']} queries nothing"
    for title, needle in PANELS.items():
        matching = [p for p in panels if p["title"].startswith(title)]
        assert matching, f"no panel titled {title!r}"
        exprs = " ".join(t["expr"] for p in matching for t in p["targets"])
        assert needle in exprs, f"{title!r} should query {needle}"
    incidents = next(p for p in panels if p["title"] == "Open incidents by tier and priority")
    assert "by (tier, priority)" in incidents["targets"][0]["expr"]
