"""SLA policies and one clock's arithmetic: targets, matching, pauses, re-targeting, warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_sla_monitor.config import Settings, load_config
from tierline_sla_monitor.domain.calendar import ALWAYS, Calendar
from tierline_sla_monitor.domain.clock import Run
from tierline_sla_monitor.domain.policy import ClockState, SlaConfig, SlaPolicy, Subject, policy_for

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
OFFICE = Calendar(name="office", hours={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})


def _policy(**fields) -> SlaPolicy:
    return SlaPolicy.model_validate({"name": "x", "response": "15m", "resolution": "4h", **fields})


def test_default_resolution_targets_match_the_support_contract() -> None:
    config = SlaConfig()
    targets = {
        p: policy_for(config.policies, Subject(priority=p, service="s")) for p in ("P1", "P2", "P3", "P4")
    }
    assert {p: t.resolution for p, t in targets.items()} == {
        "P1": 4 * H,
        "P2": 8 * H,
        "P3": 24 * H,
        "P4": 48 * H,
    }
    assert {p: t.response for p, t in targets.items()} == {
        "P1": timedelta(minutes=15),
        "P2": timedelta(minutes=30),
        "P3": 4 * H,
        "P4": 8 * H,
    }


def test_shipped_sla_file_keeps_the_default_targets_and_puts_p3_p4_on_office_hours() -> None:
    shipped = load_config(Settings(config_dir=CONFIG_DIR))
    defaults = SlaConfig()
    for p in ("P1", "P2", "P3", "P4"):
        mine, default = (
            policy_for(c.policies, Subject(priority=p, service="s")) for c in (shipped, defaults)
        )
        assert (mine.response, mine.resolution) == (default.response, default.resolution)
    calendars = {p.name: p.calendar for p in shipped.policies}
    assert calendars["p1"] == "24x7" and calendars["p3"] == "office-hours"


def test_narrower_policies_match_first_and_customer_filters_need_a_customer() -> None:
    gold = _policy(name="gold", priorities=["P2"], customers=["acme"], resolution="2h")
    vpn = _policy(name="vpn", services=["vpn"], resolution="6h")
    config = SlaConfig(policies=[gold, vpn, *SlaConfig().policies])
    assert policy_for(config.policies, Subject(priority="P2", service="vpn", customer="acme")).name == "gold"
    assert policy_for(config.policies, Subject(priority="P2", service="vpn")).name == "vpn"
    assert policy_for(config.policies, Subject(priority="P2", service="mail")).name == "p2"


def test_a_types_filter_picks_service_requests_and_empty_means_any_type() -> None:
    requests = _policy(name="requests", types=["service_request"], response="1h", resolution="8h")
    config = SlaConfig(policies=[requests, *SlaConfig().policies])
    request = Subject(priority="P2", service="identity", type="service_request")
    assert policy_for(config.policies, request) is requests
    assert policy_for(config.policies, Subject(priority="P2", service="identity")).name == "p2"
    assert Subject(priority="P2", service="identity").type == "incident"  # unless told otherwise
    both = _policy(types=["incident", "service_request"])
    assert both.matches(request) and both.matches(Subject(priority="P4", service="s"))
    assert requests.filters["types"] == frozenset({"service_request"})


def test_every_priority_needs_a_policy_for_each_type() -> None:
    with pytest.raises(ValidationError, match="covers P1 of type incident"):
        SlaConfig(policies=[_policy(types=["service_request"])])
    SlaConfig(policies=[_policy(name="a", types=["service_request"]), _policy(name="b", types=["incident"])])
    with pytest.raises(ValidationError, match="types"):
        _policy(types=["change"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"response": "0s"}, "longer than zero"),
        ({"warnings": [1.5]}, "fractions"),
        ({"pause_on": ["lunch"]}, "pause_on"),
    ],
)
def test_invalid_policies_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _policy(**fields)


def test_config_needs_every_priority_covered_and_known_calendars() -> None:
    with pytest.raises(ValidationError, match="covers P4"):
        SlaConfig(policies=[_policy(priorities=["P1", "P2", "P3"])])
    with pytest.raises(ValidationError, match="unknown calendar"):
        SlaConfig(policies=[_policy(calendar="nope")])
    with pytest.raises(ValidationError, match="built in"):
        SlaConfig(calendars=[Calendar(name="24x7", hours={"mon": ["09:00-17:00"]})], policies=[_policy()])


def test_tier_budget_prefers_the_router_and_has_none_for_l4() -> None:
    config = SlaConfig()
    assert config.tier_budget("L1", 2.5) == timedelta(seconds=2.5)
    assert config.tier_budget("L2", None) == 2 * H
    assert config.tier_budget("L4", None) is None


def test_p3_raised_to_p1_after_three_of_four_hours_has_one_hour_left() -> None:
    run = Run(target=24 * H, elapsed=timedelta(0), running_since=T0)
    now = T0 + 3 * H
    raised = run.rebank(ALWAYS, now).retarget(4 * H, (0.75, 0.9))
    assert raised.due_at(ALWAYS) == now + H
    assert raised.warned == 0 and raised.next_warning_at(ALWAYS) == now  # 75 % already spent: warn at once


def test_pause_keeps_the_business_time_spent_and_resume_continues_from_it() -> None:
    run = Run(target=8 * H, elapsed=timedelta(0), running_since=T0)  # Monday 09:00
    paused = run.pause(OFFICE, T0 + 3 * H)
    assert paused.is_paused and paused.elapsed == 3 * H and paused.due_at(OFFICE) is None
    resumed = paused.resume(T0 + timedelta(days=1))  # Tuesday 09:00: 5 business hours left
    assert resumed.due_at(OFFICE) == T0 + timedelta(days=1, hours=5)
    assert resumed.elapsed_at(OFFICE, T0 + timedelta(days=1, hours=2)) == 5 * H


def test_warnings_come_in_order_then_the_due_time() -> None:
    run = Run(target=4 * H, elapsed=timedelta(0), running_since=T0, warnings=(0.5, 0.75))
    assert run.fire_at(OFFICE) == T0 + 2 * H
    later = Run(**{**run.__dict__, "warned": 2})
    assert later.next_warning_at(OFFICE) is None and later.fire_at(OFFICE) == T0 + 4 * H


def test_outcome_of_a_running_clock_is_by_due_time_of_a_paused_one_by_time_spent() -> None:
    run = Run(target=H, elapsed=timedelta(0), running_since=T0)
    due = run.due_at(ALWAYS)
    assert run.outcome(ALWAYS, T0 + H, due) is ClockState.MET
    assert run.outcome(ALWAYS, T0 + H + timedelta(microseconds=1), due) is ClockState.BREACHED
    paused = run.pause(ALWAYS, T0 + 2 * H)
    assert paused.outcome(ALWAYS, T0 + 9 * H, None) is ClockState.BREACHED


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_any_pause_only_shifts_the_due_time_by_its_length_on_24x7(
    before: int, pause: int, target: int
) -> None:
    run = Run(target=timedelta(seconds=target), elapsed=timedelta(0), running_since=T0)
    stop = T0 + timedelta(seconds=min(before, target))
    again = run.pause(ALWAYS, stop).resume(stop + timedelta(seconds=pause))
    assert again.due_at(ALWAYS) == run.due_at(ALWAYS) + timedelta(seconds=pause)
