"""Loading config-as-code YAML into pydantic models, with errors that name the file."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(RuntimeError):
    pass


def load_yaml(path: Path, model: type[M]) -> M:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        # the line and the parser's complaint, not its snippet of the text (a secret may be on it)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # where and why, never the values: a config file may hold secrets
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from None


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_ISO_DURATION = TypeAdapter(timedelta)  # built once: a TypeAdapter costs more than the parse


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '4h', '2d', '1h30m', a number of seconds, or ISO 8601 ('PT4H')."""
    try:
        return _parse_duration(value)
    except OverflowError:
        raise ValueError("duration is too long") from None


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("duration must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        return _parse_text(value)
    raise ValueError("not a duration (use e.g. 30s, 15m, 4h, 2d)")


@lru_cache(maxsize=1024)
def _parse_text(value: str) -> timedelta:
    """A duration written as text, parsed once per distinct text (timedelta is immutable)."""
    text = value.strip().lower()
    if text.startswith("p"):
        return _ISO_DURATION.validate_python(value)
    parts = _PART.findall(text)
    if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    raise ValueError("not a duration (use e.g. 30s, 15m, 4h, 2d)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class FromEnv(BaseModel):
    """A value a config file takes from the environment at start; ``default`` is for local development only.

    Secrets come this way (a webhook's token, a signing secret), so one file serves `make run`
    (the defaults) and a container deployment (its environment).
    """

    model_config = ConfigDict(extra="forbid")

    env: str = Field(min_length=1)
    default: str | None = None

    def resolve(self) -> str | None:
        """The variable's value when set and not empty, else the default."""
        return os.environ.get(self.env) or self.default
