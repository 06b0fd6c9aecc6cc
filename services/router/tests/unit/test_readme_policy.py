"""The README's routing policy example is a valid policy, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tierline_router.domain.model import RoutingConfig

README = Path(__file__).resolve().parents[4] / "README.md"


def test_readme_routing_example_is_a_valid_policy_using_every_option() -> None:
    section = README.read_text().split("### Routing policy", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    config = RoutingConfig.model_validate(yaml.safe_load(block.group(1)))
    assert {q.strategy for q in config.queues} == {"round_robin", "least_loaded", "skills"}
    assert any(not a.available for a in config.agents)
    assert any(p.ack_timeout and p.repeat for p in config.escalation_policies)
    assert any(r.contract.resolution for r in config.vendors)
