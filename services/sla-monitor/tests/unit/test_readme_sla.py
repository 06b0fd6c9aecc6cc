"""The README's SLA example is a valid policy file, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tierline_sla_monitor.domain.policy import SlaConfig, Subject, policy_for

README = Path(__file__).resolve().parents[4] / "README.md"


def test_readme_sla_example_is_a_valid_policy_file() -> None:
    section = README.read_text().split("### SLA policies and calendars", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    config = SlaConfig.model_validate(yaml.safe_load(block.group(1)))
    gold = policy_for(config.policies, Subject(priority="P1", service="s", customer="acme-corp"))
    assert (gold.name, gold.warnings) == ("gold-p1", [0.5, 0.75, 0.9])
    assert policy_for(config.policies, Subject(priority="P3", service="s")).calendar == "office-hours"
    request = Subject(priority="P3", service="s", type="service_request")
    assert policy_for(config.policies, request).name == "requests"
