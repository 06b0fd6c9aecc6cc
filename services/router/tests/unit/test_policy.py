from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_router.config import Settings, load_policy
from tierline_router.domain.model import RoutingPolicy, TopOfLadder, next_tier, round_robin

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"


def _policy(**overrides) -> RoutingPolicy:
    raw = {
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["a", "b"]},
            {"name": "net", "tier": "L2", "categories": ["network"], "agents": ["n"]},
            {"name": "tech", "tier": "L2", "agents": ["t"]},
            {"name": "experts", "tier": "L3", "agents": []},
        ],
        "tier_budgets": {p: {"L1": "15m", "L2": "1h", "L3": "2h"} for p in ("P1", "P2", "P3", "P4")},
        "vendors": [
            {"vendor": "acme", "services": ["vpn"]},
            {"vendor": "globex", "categories": ["hardware"]},
        ],
    }
    raw.update(overrides)
    return RoutingPolicy.model_validate(raw)


def test_ladder_goes_up_one_tier_at_a_time_and_stops_at_l4() -> None:
    assert [next_tier(t) for t in ("L1", "L2", "L3")] == ["L2", "L3", "L4"]
    with pytest.raises(TopOfLadder):
        next_tier("L4")


def test_queue_choice_uses_filters_then_falls_back_to_first_of_tier() -> None:
    policy = _policy()
    assert policy.queue_for("L2", "vpn", "network").name == "net"
    assert policy.queue_for("L2", "mail", "email").name == "tech"
    assert policy.queue_for("L1", "anything", "else").name == "desk"


def test_budgets_per_priority_and_none_for_the_vendor_tier() -> None:
    policy = _policy()
    assert policy.budget("P1", "L1") == timedelta(minutes=15)
    assert policy.budget("P3", "L3") == timedelta(hours=2)
    assert policy.budget("P1", "L4") is None


def test_vendor_matches_service_or_category_in_rule_order() -> None:
    policy = _policy()
    assert policy.vendor_for("vpn", "network") == "acme"
    assert policy.vendor_for("laptops", "hardware") == "globex"
    assert policy.vendor_for("mail", "email") is None
    catch_all = _policy(vendors=[{"vendor": "anyone"}])
    assert catch_all.vendor_for("mail", "email") == "anyone"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"queues": [{"name": "desk", "tier": "L1"}]}, "no queue serves tier L2"),
        ({"tier_budgets": {"P1": {"L1": "1m", "L2": "1m", "L3": "1m"}}}, "tier_budgets.P2"),
        (
            {"tier_budgets": {p: {"L1": "soon", "L2": "1m", "L3": "1m"} for p in ("P1", "P2", "P3", "P4")}},
            "duration",
        ),
    ],
)
def test_incomplete_policies_are_rejected(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _policy(**change)


def test_shipped_router_config_is_valid() -> None:
    policy = load_policy(Settings(config_dir=CONFIG_DIR))
    assert {q.tier for q in policy.queues} == {"L1", "L2", "L3"}
    assert policy.budget("P1", "L1") == timedelta(minutes=15)


def test_round_robin_with_nobody_assigns_nobody() -> None:
    assert round_robin([], 3) == (None, 3)


@given(
    agents=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=8, unique=True),
    rounds=st.integers(1, 200),
)
def test_round_robin_is_even(agents: list[str], rounds: int) -> None:
    position, picks = 0, []
    for _ in range(rounds):
        agent, position = round_robin(agents, position)
        picks.append(agent)
    counts = Counter(picks)
    assert set(counts) <= set(agents)
    assert max(counts.values()) - min(counts.get(a, 0) for a in agents) <= 1
