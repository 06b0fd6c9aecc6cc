from datetime import timedelta
from pathlib import Path
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierline_shared.config_files import ConfigError, Duration, load_yaml, parse_duration


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


# -- durations too long for a timedelta, and load_yaml's errors ----------------------------------


@pytest.mark.parametrize(
    "huge", [1e20, 1e300, float("inf"), 10**30, "99999999999d", "1000000000d", "9" * 400 + "s"]
)
def test_a_duration_too_long_for_a_timedelta_is_a_value_error(huge: object) -> None:
    with pytest.raises(ValueError, match="duration is too long"):
        parse_duration(huge)


def test_the_longest_timedelta_is_still_a_duration() -> None:
    assert parse_duration("999999999d") == timedelta(days=999_999_999)


def test_a_duration_field_refuses_an_overflow_as_a_validation_error() -> None:
    # an OverflowError would escape pydantic (it only turns ValueError into a ValidationError)
    with pytest.raises(ValidationError, match="duration is too long") as info:
        Timed.model_validate({"timeout": "99999999999d", "token": TOKEN})
    assert [e["loc"] for e in info.value.errors()] == [("timeout",)]


TOKEN = "tok_" + "s3cr3t" * 6  # what a config file may hold


def _long_enough(value: str) -> str:
    if len(value) < 30:
        raise ValueError("a token holds at least 30 characters")
    return value


class Timed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, AfterValidator(_long_enough)]
    timeout: Duration = timedelta(seconds=10)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[Timed]
    retries: int = Field(default=3, le=10)

    @model_validator(mode="after")
    def _distinct(self) -> "Settings":
        if len({s.token for s in self.services}) != len(self.services):
            raise ValueError("tokens must differ")
        return self


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        (f"services:\n  - token: {TOKEN[:20]}\n", "services.0.token", "at least 30 characters"),
        (f"services:\n  - token: {TOKEN}\n    colour: {TOKEN}x\n", "services.0.colour", "Extra inputs"),
        (f"services:\n  - token: {TOKEN}\nretries: 4242\n", "retries", "less than or equal to 10"),
        (f"services:\n  - token: {TOKEN}\n  - token: {TOKEN}\n", "(top)", "tokens must differ"),
        (f"services: {TOKEN}\n", "services", "valid list"),
    ],
    ids=["field", "extra-key", "bound", "model-check", "type"],
)
def test_load_yaml_names_where_and_why_but_never_the_values(
    tmp_path: Path, text: str, where: str, why: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path, Settings)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and f"{where}: " in message and why in message, message
    assert TOKEN[:20] not in message and "4242" not in message, message
    assert info.value.__cause__ is None, "the ValidationError (which has the values) is not chained"


def test_load_yaml_joins_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("services:\n  - token: short\n    timeout: soon\nretries: 11\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, Settings)
    problems = str(info.value).removeprefix(f"{path}: ").split("; ")
    assert [p.split(": ", 1)[0] for p in problems] == ["services.0.token", "services.0.timeout", "retries"]


def test_load_yaml_does_not_echo_a_value_given_where_a_duration_belongs(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f"services:\n  - token: {TOKEN}\n    timeout: {TOKEN}\n")
    with pytest.raises(ConfigError, match=r"services\.0\.timeout") as info:
        load_yaml(path, Settings)
    assert TOKEN[:20] not in str(info.value)


def test_load_yaml_does_not_echo_the_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f'services:\n  - token: "{TOKEN}\n    timeout: 5s\n')  # the quote is not closed
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_yaml(path, Settings)
    assert TOKEN[:20] not in str(info.value)
