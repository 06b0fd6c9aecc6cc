from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_sla_monitor.config import Settings, load_policy
from tierline_sla_monitor.domain.policy import ClockState, SlaPolicy, due_at, outcome_when_stopped

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
T0 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def test_default_resolution_targets_match_the_support_contract() -> None:
    policy = SlaPolicy()
    assert {p: policy.target(p).resolution for p in ("P1", "P2", "P3", "P4")} == {
        "P1": timedelta(hours=4),
        "P2": timedelta(hours=8),
        "P3": timedelta(hours=24),
        "P4": timedelta(hours=48),
    }


def test_shipped_sla_file_keeps_the_defaults() -> None:
    assert load_policy(Settings(config_dir=CONFIG_DIR)).targets == SlaPolicy().targets


def test_tier_budget_prefers_the_router_and_has_none_for_l4() -> None:
    policy = SlaPolicy()
    assert policy.tier_budget("L1", 2.5) == timedelta(seconds=2.5)
    assert policy.tier_budget("L2", None) == timedelta(hours=2)
    assert policy.tier_budget("L4", None) is None


def test_missing_or_non_positive_targets_are_rejected() -> None:
    with pytest.raises(ValidationError, match="targets missing for P4"):
        SlaPolicy.model_validate(
            {"targets": {p: {"response": "1m", "resolution": "1h"} for p in ("P1", "P2", "P3")}}
        )
    with pytest.raises(ValidationError, match="positive"):
        SlaPolicy.model_validate(
            {"targets": {p: {"response": "0s", "resolution": "1h"} for p in ("P1", "P2", "P3", "P4")}}
        )


def test_stopping_on_or_before_due_is_met_after_is_breached() -> None:
    due = due_at(T0, timedelta(hours=4))
    assert outcome_when_stopped(due, due) is ClockState.MET
    assert outcome_when_stopped(due + timedelta(microseconds=1), due) is ClockState.BREACHED


@given(st.integers(0, 10**7), st.integers(0, 10**7))
def test_due_time_is_additive_and_monotonic(a: int, b: int) -> None:
    first = due_at(T0, timedelta(seconds=a))
    assert due_at(first, timedelta(seconds=b)) == due_at(T0, timedelta(seconds=a + b))
    assert (due_at(T0, timedelta(seconds=a)) <= due_at(T0, timedelta(seconds=b))) == (a <= b)
