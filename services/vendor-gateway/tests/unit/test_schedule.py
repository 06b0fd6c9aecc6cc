"""A fixed retry schedule: its jitter, its last entry repeating, and what the config accepts."""

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_vendor_gateway.config import DeliveryPolicy
from tierline_vendor_gateway.domain.delivery import scheduled_delay

SCHEDULE = [timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)]


class Top(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


class Bottom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


@given(attempt=st.integers(0, 60), seed=st.integers(0, 2**32))
def test_delay_is_the_entry_stretched_by_at_most_ten_percent(attempt: int, seed: int) -> None:
    base = SCHEDULE[min(attempt, len(SCHEDULE) - 1)]
    delay = scheduled_delay(SCHEDULE, attempt, rng=random.Random(seed))
    assert base <= delay <= base * 1.1


def test_bounds_of_the_jitter() -> None:
    assert scheduled_delay(SCHEDULE, 1, rng=Bottom()) == timedelta(seconds=5)
    assert scheduled_delay(SCHEDULE, 1, rng=Top()) == timedelta(seconds=5.5)
    assert scheduled_delay(SCHEDULE, 2, rng=Top(), jitter=0) == timedelta(minutes=5)
    assert scheduled_delay(SCHEDULE, 0, rng=Top()) == timedelta(0)  # 0s stays 0s


def test_the_last_entry_repeats_past_the_end() -> None:
    for attempt in (3, 4, 10, 1000):
        assert scheduled_delay(SCHEDULE, attempt, rng=Bottom()) == timedelta(minutes=30)


def test_a_one_entry_schedule_always_uses_it() -> None:
    assert [scheduled_delay([timedelta(seconds=7)], n, rng=Bottom()) for n in range(3)] == [
        timedelta(seconds=7)
    ] * 3


def test_attempts_is_the_length_of_the_schedule() -> None:
    policy = DeliveryPolicy.model_validate({"schedule": ["0s", "5s", "5m", "30m", "2h"], "max_attempts": 20})
    assert policy.schedule == [
        timedelta(0),
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    ]
    assert policy.attempts == 5  # the schedule wins over max_attempts


def test_attempts_is_max_attempts_without_a_schedule() -> None:
    assert DeliveryPolicy().attempts == 8
    assert DeliveryPolicy(max_attempts=3).attempts == 3
    assert DeliveryPolicy().allow_hosts == []


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([], "1 to 50"),
        (["1s"] * 51, "1 to 50"),
        (["0s", "-5s"], "not a duration"),
        ([-1], "negative"),
        ([timedelta(0), timedelta(seconds=-5)], "schedule delays are between 0 and 7 days"),
    ],
)
def test_invalid_schedules_are_rejected(schedule: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeliveryPolicy.model_validate({"schedule": schedule})


def test_schedule_boundaries_are_accepted() -> None:
    assert DeliveryPolicy.model_validate({"schedule": ["0s"]}).attempts == 1
    assert DeliveryPolicy.model_validate({"schedule": ["1s"] * 50}).attempts == 50


def test_unknown_policy_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        DeliveryPolicy.model_validate({"schedul": ["1s"]})
