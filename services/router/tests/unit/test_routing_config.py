"""Unit tests of the routing config as a whole: references, coverage, queue choice, the shipped file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_router.config import Settings, load_routing
from tierline_router.domain.model import (
    HUMAN_TIERS,
    PRIORITIES,
    TIERS,
    EscalationPolicy,
    Queue,
    RoutingConfig,
    Subject,
    coverage_problem,
    policy_for,
    queue_for,
    vendor_for,
)

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
LADDER = [{"tier": "L1", "budget": "15m"}, {"tier": "L2", "budget": "1h"}, {"tier": "L3"}, {"tier": "L4"}]
# Services no filter in these tests lists: an incident nobody singled out.
UNLISTED = "unlisted-service"


def _subject(service: str = "mail", category: str = "email", priority: str = "P3") -> Subject:
    return Subject(service=service, category=category, priority=priority)


def _config(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "agents": [{"name": "a"}, {"name": "b"}, {"name": "n"}],
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["a", "b"]},
            {"name": "net", "tier": "L2", "categories": ["network"], "agents": ["n"]},
            {"name": "tech", "tier": "L2", "agents": ["a"]},
            {"name": "experts", "tier": "L3"},
        ],
        "escalation_policies": [{"name": "all", "ladder": LADDER}],
    }
    raw.update(overrides)
    return raw


def test_a_complete_config_is_accepted() -> None:
    config = RoutingConfig.model_validate(_config())
    assert [q.name for q in config.queues] == ["desk", "net", "tech", "experts"]
    assert config.vendors == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agents": [{"name": "a"}, {"name": "a"}, {"name": "b"}, {"name": "n"}]}, "agent 'a' appears twice"),
        (
            {"queues": [*_config()["queues"], {"name": "desk", "tier": "L1"}]},
            "queue 'desk' appears twice",
        ),
        (
            {"escalation_policies": [{"name": "p", "ladder": LADDER}, {"name": "p", "ladder": LADDER}]},
            "escalation policy 'p' appears twice",
        ),
        ({"agents": [{"name": "a"}]}, "queue 'desk' names undeclared agents: b"),
        (
            {"queues": [{"name": "desk", "tier": "L1"}, {"name": "net", "tier": "L2"}]},
            "no queue serves tier L3",
        ),
        (
            {
                "escalation_policies": [
                    {"name": "urgent", "priorities": ["P1", "P2", "P3"], "ladder": LADDER},
                    {"name": "vpn", "services": ["vpn"], "ladder": LADDER},
                ]
            },
            "no escalation policy without a services filter covers P4",
        ),
        ({"escalation_policies": []}, "covers P1"),
    ],
)
def test_inconsistent_configs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RoutingConfig.model_validate(_config(**change))


def test_queue_for_takes_the_first_matching_queue_of_the_tier_else_its_first() -> None:
    queues = RoutingConfig.model_validate(_config()).queues
    assert queue_for(queues, "L2", _subject(category="network")).name == "net"
    assert queue_for(queues, "L2", _subject(category="email")).name == "tech"
    assert queue_for(queues, "L1", _subject(category="network")).name == "desk"
    only_filtered = [Queue(name="net", tier="L2", categories=["network"]), Queue(name="x", tier="L1")]
    assert queue_for(only_filtered, "L2", _subject(category="email")).name == "net"


# -- coverage --------------------------------------------------------------------------------

queue_tiers = st.lists(st.sampled_from(HUMAN_TIERS), max_size=5)
policy_filters = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["vpn", "mail"]), max_size=2, unique=True),
        st.lists(st.sampled_from(PRIORITIES), max_size=4, unique=True),
    ),
    max_size=4,
)


@given(queue_tiers, policy_filters)
def test_coverage_holds_exactly_when_every_incident_finds_a_policy_and_every_tier_a_queue(
    tiers: list[str], filters: list[tuple[list[str], list[str]]]
) -> None:
    queues = [Queue(name=f"q{i}", tier=t) for i, t in enumerate(tiers)]
    policies = [
        EscalationPolicy(name=f"p{i}", services=s, priorities=p, ladder=LADDER)
        for i, (s, p) in enumerate(filters)
    ]
    subjects = [_subject(s, priority=p) for s in ("vpn", "mail", UNLISTED) for p in PRIORITIES]
    routable = all(any(q.tier == t for q in queues) for t in HUMAN_TIERS) and all(
        any(p.matches(s) for p in policies) for s in subjects
    )
    problem = coverage_problem(queues, policies)
    assert (problem is None) is routable, problem
    if problem is None:
        for subject in subjects:
            assert policy_for(policies, subject).matches(subject)
            assert [queue_for(queues, t, subject).tier for t in HUMAN_TIERS] == list(HUMAN_TIERS)


# -- the shipped deploy/config/router.yaml ---------------------------------------------------

SHIPPED = load_routing(Settings(config_dir=CONFIG_DIR))


def test_shipped_config_declares_queues_for_every_human_tier_with_known_members() -> None:
    assert {q.tier for q in SHIPPED.queues} == set(HUMAN_TIERS)
    agents = {a.name for a in SHIPPED.agents}
    assert all(q.agents and set(q.agents) <= agents for q in SHIPPED.queues)
    assert coverage_problem(SHIPPED.queues, SHIPPED.escalation_policies) is None


@pytest.mark.parametrize("priority", PRIORITIES)
@pytest.mark.parametrize(
    ("service", "category"), [("vpn", "network"), ("mail", "email"), (UNLISTED, "other")]
)
def test_shipped_config_gives_every_priority_a_ladder_through_the_human_tiers(
    priority: str, service: str, category: str
) -> None:
    subject = _subject(service, category, priority)
    policy = policy_for(SHIPPED.escalation_policies, subject)
    assert priority in policy.priorities or not policy.priorities
    assert [s.tier for s in policy.ladder] == ["L1", "L2", "L3", "L4"]
    assert policy.entry_tier == "L1"
    budgets = [policy.budget(t) for t in HUMAN_TIERS]
    assert all(b is not None and b.total_seconds() > 0 for b in budgets)
    climbed = [policy.entry_tier]
    for _ in TIERS:  # bounded: a ladder that never tops out fails below instead of hanging
        if (above := policy.tier_above(climbed[-1])) is None:
            break
        climbed.append(above)
    assert climbed == ["L1", "L2", "L3", "L4"]
    assert [queue_for(SHIPPED.queues, t, subject).tier for t in HUMAN_TIERS] == list(HUMAN_TIERS)


def test_shipped_config_never_gives_a_less_urgent_priority_a_shorter_first_budget() -> None:
    first = [policy_for(SHIPPED.escalation_policies, _subject(priority=p)).budget("L1") for p in PRIORITIES]
    assert first == sorted(first)


def test_shipped_config_routes_network_incidents_to_network_ops_and_acme() -> None:
    network = _subject("vpn", "network", "P2")
    assert queue_for(SHIPPED.queues, "L2", network).name == "network-ops"
    assert vendor_for(SHIPPED.vendors, network).vendor == "acme-networks"
    assert vendor_for(SHIPPED.vendors, network, excluded=["acme-networks"]) is None
