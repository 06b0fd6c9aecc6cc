"""SLA policies in their match order: which ones are never reached, judged against ``policy_for`` itself.

``domain/ranking.py`` is the router's module, copied (its own tests live with the router, and one of
them keeps the copies identical); these cover what is the SLA monitor's: its filters and their meaning.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tierline_shared.ranking import Entry, placement_warnings, review, shadowers
from tierline_sla_monitor.domain.policy import (
    FILTER_UNIVERSES,
    PRIORITIES,
    TYPES,
    SlaPolicy,
    Subject,
    policy_for,
)

TARGETS = {"response": "15m", "resolution": "4h"}
PER_PRIORITY = [SlaPolicy(name=p.lower(), priorities=[p], **TARGETS) for p in PRIORITIES]


def _entries(policies: list[SlaPolicy]) -> list[Entry]:
    return [Entry(p.name, p.filters) for p in policies]


def test_a_customer_policy_behind_its_priority_s_policy_is_never_reached_and_ahead_of_it_is() -> None:
    gold = SlaPolicy(name="gold", priorities=["P2"], customers=["acme"], **TARGETS)
    behind = [*PER_PRIORITY, gold]
    assert shadowers(_entries(behind), 4, FILTER_UNIVERSES) == ["p2"]
    ahead = [gold, *PER_PRIORITY]
    assert review(_entries(ahead), FILTER_UNIVERSES, what="SLA policy")["gold"] == ()
    assert policy_for(ahead, Subject(priority="P2", service="mail", customer="acme")) is gold


def test_a_service_request_policy_behind_a_catch_all_is_never_reached_and_both_types_are_any() -> None:
    requests = SlaPolicy(name="requests", types=["service_request"], **TARGETS)
    catch_all = SlaPolicy(name="any", **TARGETS)
    assert shadowers(_entries([catch_all, requests]), 1, FILTER_UNIVERSES) == ["any"]
    assert shadowers(_entries([requests, catch_all]), 1, FILTER_UNIVERSES) == []
    both = SlaPolicy(name="both", types=["incident", "service_request"], **TARGETS)
    assert shadowers(_entries([both, requests]), 1, FILTER_UNIVERSES) == ["both"]


def test_a_catch_all_after_one_policy_per_priority_is_reported_as_taken_by_all_four() -> None:
    catch_all = SlaPolicy(name="any", **TARGETS)
    [placed_last, shadowed] = placement_warnings(
        _entries([*PER_PRIORITY, catch_all]), "any", FILTER_UNIVERSES, what="SLA policy", is_placed_last=True
    )
    assert (placed_last.code, shadowed.code, shadowed.entries) == (
        "placed_last",
        "shadowed",
        ("p1", "p2", "p3", "p4"),
    )
    assert shadowed.detail.startswith("SLA policy 'any' is never reached")


LABELS = ["a", "b"]
labels = st.lists(st.sampled_from(LABELS), unique=True, max_size=2)
# every subject the filters can tell apart: listed labels, one nobody lists, and no customer at all
SUBJECTS = [
    Subject(priority=p, service=s, customer=c, type=t)
    for p in PRIORITIES
    for s in [*LABELS, "other"]
    for c in [*LABELS, "other", None]
    for t in TYPES
]


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "priorities": st.lists(st.sampled_from(PRIORITIES), unique=True, max_size=4),
                "types": st.lists(st.sampled_from(TYPES), unique=True, max_size=2),
                "services": labels,
                "customers": labels,
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_policy_is_reported_never_reached_exactly_when_policy_for_never_picks_it(filters) -> None:
    policies = [SlaPolicy(name=f"p{i}", **f, **TARGETS) for i, f in enumerate(filters)]
    entries = _entries(policies)
    for index, policy in enumerate(policies):
        picked = {policy_for(policies, s).name for s in SUBJECTS if policy.matches(s)}
        takers = shadowers(entries, index, FILTER_UNIVERSES)
        assert (policy.name in picked) is (not takers)
        if takers:
            assert picked == set(takers)
