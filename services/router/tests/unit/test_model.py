"""Unit tests of the routing domain's parts: agents, queues, escalation ladders and vendor rules."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_router.domain.model import (
    HUMAN_TIERS,
    MAX_REPEAT,
    TIERS,
    Agent,
    AgentSpec,
    EscalationPolicy,
    ListedVendor,
    PolicySpec,
    QueueSpec,
    Subject,
    TopOfLadder,
    VendorRule,
    next_tier,
    policy_for,
    vendor_for,
)

FULL_LADDER = [
    {"tier": "L1", "budget": "15m"},
    {"tier": "L2", "budget": "1h"},
    {"tier": "L3", "budget": "2h"},
]


def _subject(
    service: str = "mail", category: str = "email", priority: str = "P3", product: str | None = None
) -> Subject:
    return Subject(service=service, category=category, priority=priority, product=product)


def _ladder(*tiers: str) -> list[dict[str, Any]]:
    return [{"tier": t} if t == "L4" else {"tier": t, "budget": "1h"} for t in tiers]


# -- agents and queues -----------------------------------------------------------------------


def test_agent_defaults_and_skills_are_deduplicated_and_sorted() -> None:
    spec = AgentSpec(skills=["vpn", "network", "vpn"])
    assert (spec.skills, spec.capacity, spec.available) == (["network", "vpn"], 10, True)


@pytest.mark.parametrize("capacity", [0, -1, 1001])
def test_agent_capacity_outside_1_to_1000_is_refused(capacity: int) -> None:
    with pytest.raises(ValidationError, match="capacity"):
        AgentSpec(capacity=capacity)


@pytest.mark.parametrize("name", ["", "-dash", ".dot", "two words", "x" * 101, "é"])
def test_names_must_be_simple_identifiers(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        Agent(name=name)
    assert Agent(name="alice.b_c-1").name == "alice.b_c-1"


def test_specs_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        AgentSpec(skil=["typo"])
    agent = Agent(name="a")
    with pytest.raises(ValidationError, match="frozen"):
        agent.capacity = 3


def test_queue_defaults_and_refusals() -> None:
    assert QueueSpec(tier="L1").strategy == "round_robin"
    for bad in ({"tier": "L4"}, {"tier": "L1", "strategy": "random"}, {"tier": "L1", "priorities": ["P5"]}):
        with pytest.raises(ValidationError):
            QueueSpec(**bad)
    with pytest.raises(ValidationError, match="agent 'a' appears twice"):
        QueueSpec(tier="L1", agents=["a", "b", "a"])


@pytest.mark.parametrize(
    ("filters", "subject", "expected"),
    [
        ({}, _subject(), True),
        ({"services": ["vpn"]}, _subject(service="vpn"), True),
        ({"services": ["vpn"]}, _subject(service="mail"), False),
        ({"categories": ["network"]}, _subject(category="email"), False),
        ({"products": ["x1"]}, _subject(product="x1"), True),
        ({"products": ["x1"]}, _subject(product=None), False),
        ({"priorities": ["P1", "P2"]}, _subject(priority="P2"), True),
        ({"priorities": ["P1", "P2"]}, _subject(priority="P3"), False),
        ({"services": ["vpn"], "categories": ["network"]}, _subject(service="vpn", category="email"), False),
        ({"services": ["vpn"], "categories": ["network"]}, _subject(service="vpn", category="network"), True),
    ],
)
def test_queue_filters_all_apply_and_empty_matches_anything(
    filters: dict[str, list[str]], subject: Subject, expected: bool
) -> None:
    assert QueueSpec(tier="L1", **filters).matches(subject) is expected


def test_subject_tags_skip_a_missing_product() -> None:
    assert _subject("vpn", "network").tags == {"vpn", "network"}
    assert _subject("vpn", "network", product="x1").tags == {"vpn", "network", "x1"}


# -- escalation ladders ----------------------------------------------------------------------


@given(st.lists(st.sampled_from(TIERS), min_size=1, max_size=6))
def test_a_ladder_is_accepted_exactly_when_it_climbs_from_a_human_tier(tiers: list[str]) -> None:
    ranks = [TIERS.index(t) for t in tiers]
    climbs = all(a < b for a, b in pairwise(ranks))
    if climbs and tiers[0] in HUMAN_TIERS:
        assert [s.tier for s in PolicySpec(ladder=_ladder(*tiers)).ladder] == tiers
    else:
        with pytest.raises(ValidationError, match=r"must climb|starts at a human tier"):
            PolicySpec(ladder=_ladder(*tiers))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ladder": []}, "at least 1"),
        ({"ladder": [*FULL_LADDER, {"tier": "L4", "budget": "1h"}]}, "L4 takes no budget"),
        ({"ladder": [{"tier": "L1", "budget": "0s"}]}, "L1 budget must be longer than zero"),
        ({"ladder": [{"tier": "L1", "budget": "soon"}]}, "not a duration"),
        ({"ack_timeout": "0m"}, "ack_timeout must be longer than zero"),
        ({"repeat": -1}, "repeat"),
        ({"repeat": MAX_REPEAT + 1}, "repeat"),
    ],
)
def test_invalid_policies_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PolicySpec.model_validate({"ladder": FULL_LADDER, **change})


def test_policy_options_within_bounds_are_kept() -> None:
    policy = PolicySpec(ladder=FULL_LADDER, ack_timeout="5m", repeat=MAX_REPEAT)
    assert (policy.ack_timeout, policy.repeat) == (timedelta(minutes=5), MAX_REPEAT)
    assert (PolicySpec(ladder=FULL_LADDER).ack_timeout, PolicySpec(ladder=FULL_LADDER).repeat) == (None, 0)


def test_entry_tier_and_budgets_come_from_the_ladder() -> None:
    policy = PolicySpec(ladder=[{"tier": "L2", "budget": "30m"}, {"tier": "L3"}, {"tier": "L4"}])
    assert policy.entry_tier == "L2"
    assert policy.budget("L2") == timedelta(minutes=30)
    assert policy.budget("L3") is None  # a human rung may run without a budget
    assert policy.budget("L1") is None  # not on the ladder
    assert policy.budget("L4") is None


def test_tier_above_follows_the_ladder_and_stops_at_its_top() -> None:
    policy = PolicySpec(ladder=_ladder("L1", "L3", "L4"))
    assert [policy.tier_above(t) for t in TIERS] == ["L3", "L3", "L4", None]
    assert PolicySpec(ladder=_ladder("L1", "L2")).tier_above("L2") is None


def test_tier_below_prefers_the_ladder_then_the_next_human_tier_down() -> None:
    assert [PolicySpec(ladder=_ladder("L1", "L3", "L4")).tier_below(t) for t in TIERS] == [
        None,
        "L1",
        "L1",
        "L3",
    ]
    skipping_l1 = PolicySpec(ladder=_ladder("L2", "L4"))
    assert (skipping_l1.tier_below("L4"), skipping_l1.tier_below("L2")) == ("L2", "L1")


def test_next_tier_climbs_one_at_a_time_and_refuses_past_l4() -> None:
    assert [next_tier(t) for t in HUMAN_TIERS] == ["L2", "L3", "L4"]
    with pytest.raises(TopOfLadder) as caught:
        next_tier("L4")
    assert (caught.value.status, caught.value.extensions) == (409, {"tier": "L4"})


def test_policy_for_takes_the_first_match_in_order() -> None:
    policies = [
        EscalationPolicy(name="vpn-p1", services=["vpn"], priorities=["P1"], ladder=_ladder("L2")),
        EscalationPolicy(name="p1", priorities=["P1"], ladder=_ladder("L1")),
        EscalationPolicy(name="rest", ladder=_ladder("L1", "L2")),
    ]
    assert policy_for(policies, _subject("vpn", priority="P1")).name == "vpn-p1"
    assert policy_for(policies, _subject("mail", priority="P1")).name == "p1"
    assert policy_for(policies, _subject("vpn", priority="P2")).name == "rest"


# -- vendors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "subject", "expected"),
    [
        ({}, _subject(), True),
        ({"services": ["vpn"]}, _subject(service="vpn"), True),
        ({"services": ["vpn"]}, _subject(service="mail"), False),
        (
            {"services": ["vpn"], "categories": ["hardware"]},
            _subject(service="mail", category="hardware"),
            True,
        ),
        ({"products": ["x1"]}, _subject(product="x1"), True),
        ({"products": ["x1"]}, _subject(product=None), False),
        ({"categories": ["hardware"]}, _subject(category="email", product="hardware"), False),
    ],
)
def test_vendor_rule_matches_any_listed_label_or_anything_when_none(
    rule: dict[str, list[str]], subject: Subject, expected: bool
) -> None:
    assert VendorRule(vendor="v", **rule).matches(subject) is expected


def test_vendor_contract_durations_are_parsed() -> None:
    rule = VendorRule(vendor="acme", contract={"response": "1h", "resolution": "2d"})
    assert (rule.contract.response, rule.contract.resolution) == (timedelta(hours=1), timedelta(days=2))
    assert VendorRule(vendor="acme").contract.response is None


def test_vendor_for_takes_the_first_match_not_already_turned_away() -> None:
    rules = [
        VendorRule(vendor="acme", services=["vpn"]),
        VendorRule(vendor="globex", categories=["network"]),
        VendorRule(vendor="initech", services=["mail"]),
    ]
    vpn = _subject("vpn", "network")
    assert vendor_for(rules, vpn).vendor == "acme"
    assert vendor_for(rules, vpn, excluded=["acme"]).vendor == "globex"
    assert vendor_for(rules, vpn, excluded=("acme", "globex")) is None
    assert vendor_for(rules, _subject("db", "storage")) is None


def test_listed_vendors_take_only_what_they_list_and_rules_come_first() -> None:
    rules = [VendorRule(vendor="acme", services=["vpn"])]
    directory = {
        "globex": ListedVendor(vendor="globex", categories=["hardware"], contract={"response": 3600}),
        "initech": ListedVendor(vendor="initech", products=["san-9000"]),
        "umbrella": ListedVendor(vendor="umbrella"),  # lists nothing: takes nothing
    }
    assert vendor_for(rules, _subject("vpn", "hardware"), directory=directory).vendor == "acme"
    chosen = vendor_for(rules, _subject("laptops", "hardware"), directory=directory)
    assert (chosen.vendor, chosen.contract.response) == ("globex", timedelta(hours=1))
    san = _subject("storage", "storage", product="san-9000")
    assert vendor_for(rules, san, directory=directory).vendor == "initech"
    assert vendor_for(rules, _subject("mail", "email"), directory=directory) is None
    assert (
        vendor_for(rules, _subject("laptops", "hardware"), excluded=["globex"], directory=directory) is None
    )


def test_vendors_that_take_no_cases_are_passed_over_and_rules_borrow_listed_contracts() -> None:
    rules = [VendorRule(vendor="acme", services=["vpn"]), VendorRule(vendor="globex", services=["vpn"])]
    vpn = _subject("vpn", "network")
    off = {"acme": ListedVendor(vendor="acme", is_enabled=False)}
    assert vendor_for(rules, vpn, directory=off).vendor == "globex"
    listed = {"acme": ListedVendor(vendor="acme", contract={"resolution": "8h"})}
    assert vendor_for(rules, vpn, directory=listed).contract.resolution == timedelta(hours=8)
    own = [VendorRule(vendor="acme", services=["vpn"], contract={"resolution": "2h"})]
    assert vendor_for(own, vpn, directory=listed).contract.resolution == timedelta(hours=2)
