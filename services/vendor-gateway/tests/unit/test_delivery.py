import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_vendor_gateway.domain.delivery import (
    MAX_RETRY_AFTER_SECONDS,
    backoff,
    honour_retry_after,
    next_attempt_delay,
    retry_after,
    should_retry,
)

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


class Top(random.Random):
    """Full jitter at its ceiling: the backoff step is exactly the exponential one."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_a_longer_retry_after_lengthens_the_backoff_up_to_the_cap() -> None:
    assert next_attempt_delay(1, 429, "30", NOW, initial=INITIAL, cap=CAP) == timedelta(seconds=30)
    assert next_attempt_delay(1, 503, "30", NOW, initial=INITIAL, cap=CAP) == timedelta(seconds=30)
    assert next_attempt_delay(1, 429, "99999", NOW, initial=INITIAL, cap=CAP) == CAP
    # a 500's Retry-After is not a throttling signal; backoff applies
    assert next_attempt_delay(1, 500, "300", NOW, initial=INITIAL, cap=CAP) <= INITIAL


def test_a_shorter_retry_after_never_shortens_the_backoff() -> None:
    # attempt 8: our step is 2s * 2**7 = 256s; the vendor asking for 5s does not pull it in
    assert next_attempt_delay(8, 429, "5", NOW, initial=INITIAL, cap=CAP, rng=Top()) == timedelta(seconds=256)
    assert next_attempt_delay(8, 429, "300", NOW, initial=INITIAL, cap=CAP, rng=Top()) == timedelta(
        seconds=300
    )


@pytest.mark.parametrize(
    ("step", "asked", "expected"),
    [
        (timedelta(minutes=5), None, timedelta(minutes=5)),  # no Retry-After: our step
        (timedelta(minutes=5), timedelta(seconds=5), timedelta(minutes=5)),  # issue 13: 5 min, not 5 s
        (timedelta(seconds=5), timedelta(minutes=2), timedelta(minutes=2)),  # the vendor's longer wait
        (timedelta(seconds=5), timedelta(hours=3), CAP),  # ... up to the cap
        (timedelta(hours=2), timedelta(hours=3), timedelta(hours=2)),  # a step past the cap stays ours
        (timedelta(0), timedelta(0), timedelta(0)),
    ],
)
def test_retry_after_is_the_least_we_wait_never_more_than_the_cap_asks(
    step: timedelta, asked: timedelta | None, expected: timedelta
) -> None:
    assert honour_retry_after(step, asked, CAP) == expected


@given(
    step=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=7)),
    asked=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=7)),
)
def test_honouring_retry_after_never_waits_less_than_our_step(
    step: timedelta, asked: timedelta | None
) -> None:
    delay = honour_retry_after(step, asked, CAP)
    assert delay >= step
    assert delay == step or (asked is not None and delay == min(asked, CAP))


# -- Retry-After bounds (a vendor's header must not wedge or overflow a delivery) ---------------

WEEK = timedelta(seconds=MAX_RETRY_AFTER_SECONDS)


def test_the_retry_after_cap_is_a_week() -> None:
    assert timedelta(days=7) == WEEK


@pytest.mark.parametrize(
    ("value", "delay"),
    [
        ("604799", WEEK - timedelta(seconds=1)),
        ("604800", WEEK),
        ("604801", WEEK),
        ("99999999999", WEEK),  # ~3,000 years: representable, but no vendor means it
        ("9" * 30, WEEK),  # beyond timedelta: used to raise OverflowError
    ],
)
def test_retry_after_in_seconds_is_read_up_to_a_week(value: str, delay: timedelta) -> None:
    assert retry_after(value, NOW) == delay


def test_a_retry_after_date_in_minus_0000_is_read_as_utc() -> None:
    # RFC 5322 "-0000": UTC, no claim about the local zone; parsedate_to_datetime makes it naive
    assert retry_after("Mon, 23 Nov 2026 12:01:00 -0000", NOW) == timedelta(minutes=1)
    assert retry_after("Mon, 23 Nov 2026 11:00:00 -0000", NOW) == timedelta(0)
    assert retry_after("Mon, 23 Nov 2026 13:00:00 +0100", NOW) == timedelta(0), "aware dates unchanged"


@pytest.mark.parametrize(
    ("value", "delay"),
    [
        ("Mon, 30 Nov 2026 11:59:59 GMT", WEEK - timedelta(seconds=1)),
        ("Mon, 30 Nov 2026 12:00:01 GMT", WEEK),
        ("Fri, 31 Dec 9999 23:59:59 GMT", WEEK),
        ("Fri, 31 Dec 9999 23:59:59 -0000", WEEK),
    ],
)
def test_a_retry_after_date_is_capped_at_a_week(value: str, delay: timedelta) -> None:
    assert retry_after(value, NOW) == delay


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 23 Nov 2026 12:00:00 +99999999999999999999",  # OverflowError inside the parser
        "Mon, 23 Nov 2026 12:00:00 +9999999999",  # an offset of more than a day
        "Mon, 23 Nov 99999 12:00:00 GMT",  # year out of range
        "Mon, 32 Nov 2026 12:00:00 GMT",
    ],
)
def test_an_unreadable_retry_after_date_is_ignored(value: str) -> None:
    assert retry_after(value, NOW) is None


def test_a_retry_after_of_digits_int_cannot_read_is_ignored() -> None:
    assert retry_after("²", NOW) is None


def test_a_huge_retry_after_on_429_stays_within_the_cap_and_a_representable_date() -> None:
    for header in ("9" * 30, "Fri, 31 Dec 9999 23:59:59 -0000"):
        delay = next_attempt_delay(1, 429, header, NOW, initial=INITIAL, cap=timedelta(days=30))
        assert delay == WEEK
        assert NOW + delay == NOW + timedelta(days=7)
