from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_shared.config_files import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("4h", 14400),
        ("2d", 172800),
        ("1h30m", 5400),
        ("PT4H", 14400),
        (3, 3),
        (0.5, 0.5),
        ("250ms", 0.25),
    ],
)
def test_parses_human_and_iso_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "4 hours", "h4", "-5s", -1, True, None, "5x"])
def test_rejects_what_is_not_a_duration(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**6))
def test_seconds_round_trip(n: int) -> None:
    assert parse_duration(f"{n}s") == timedelta(seconds=n)
