"""What an alert asks of intake, normalized across formats, and how its severity is ranked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from tierline_intake.domain.priority import LEVELS

Action = Literal["trigger", "acknowledge", "resolve"]
ACTIONS: tuple[str, ...] = ("trigger", "acknowledge", "resolve")

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
NAME_MAX = 120
REPORTER_MAX = 320
DEDUP_KEY_MAX = 255
DEFAULT_CATEGORY = "alert"
DEFAULT_TITLE = "Alert"
ELLIPSIS = "…"
TRUNCATION_NOTE = "\n\n[truncated]"

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Intake's rule for service and category names (entrypoints.schemas.IncidentIn).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SeverityRule:
    """The impact and urgency an alert of some severity gets (each high, medium or low)."""

    impact: str
    urgency: str

    def __post_init__(self) -> None:
        for name, value in (("impact", self.impact), ("urgency", self.urgency)):
            if value not in LEVELS:
                raise ValueError(f"severity rule {name} must be one of {', '.join(LEVELS)}, not {value!r}")


DEFAULT_SEVERITY_RULES: Mapping[str, SeverityRule] = MappingProxyType(
    {
        "critical": SeverityRule("high", "high"),
        "error": SeverityRule("high", "medium"),
        "warning": SeverityRule("medium", "medium"),
        "info": SeverityRule("low", "low"),
    }
)
FALLBACK_SEVERITY = "warning"
# Severity label values common in Prometheus rules, beyond PagerDuty's four.
SEVERITY_ALIASES: Mapping[str, str] = MappingProxyType({"page": "critical", "high": "error", "low": "info"})


@dataclass(frozen=True)
class AlertSignal:
    """What an integration asks of intake, normalized across formats.

    For ``trigger`` every field describes the incident to open (impact and urgency are set);
    for ``acknowledge`` and ``resolve`` only ``dedup_key`` matters (impact and urgency are None,
    the texts are placeholders that still satisfy intake's rules).
    """

    action: Action
    dedup_key: str
    title: str
    description: str
    service: str
    category: str
    impact: str | None
    urgency: str | None
    reporter: str
    details: dict[str, Any] = field(default_factory=dict)


def severity_rule(rules: Mapping[str, SeverityRule], severity: str) -> SeverityRule:
    return (
        rules.get(severity)
        or DEFAULT_SEVERITY_RULES.get(severity)
        or rules.get(FALLBACK_SEVERITY)
        or DEFAULT_SEVERITY_RULES[FALLBACK_SEVERITY]
    )
