import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_vendor_gateway.domain.delivery import backoff, next_attempt_delay, retry_after, should_retry

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INITIAL, CAP = timedelta(seconds=2), timedelta(minutes=10)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (None, True),
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (422, False),
    ],
)
def test_what_is_worth_retrying(status: int | None, retry: bool) -> None:
    assert should_retry(status) is retry


@given(attempt=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_backoff_is_jittered_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    delay = backoff(attempt, initial=INITIAL, cap=CAP, rng=random.Random(seed))
    ceiling = min(CAP.total_seconds(), INITIAL.total_seconds() * 2 ** (attempt - 1))
    assert timedelta(0) <= delay <= timedelta(seconds=ceiling)


def test_backoff_ceiling_grows_then_caps() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    delays = [backoff(n, initial=INITIAL, cap=CAP, rng=Top()).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [2, 4, 8, 16]
    assert delays[-1] == CAP.total_seconds()
    with pytest.raises(ValueError):
        backoff(0, initial=INITIAL, cap=CAP)


def test_retry_after_in_seconds_or_http_date() -> None:
    assert retry_after("120", NOW) == timedelta(seconds=120)
    assert retry_after("Mon, 23 Nov 2026 12:01:00 GMT", NOW) == timedelta(minutes=1)
    assert retry_after("Mon, 23 Nov 2026 11:00:00 GMT", NOW) == timedelta(0)
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_vendor_retry_after_wins_for_429_but_is_capped() -> None:
    assert next_attempt_delay(1, 429, "30", NOW, initial=INITIAL, cap=CAP) == timedelta(seconds=30)
    assert next_attempt_delay(1, 429, "99999", NOW, initial=INITIAL, cap=CAP) == CAP
    # a 500's Retry-After is not a throttling signal; backoff applies
    assert next_attempt_delay(1, 500, "300", NOW, initial=INITIAL, cap=CAP) <= INITIAL
