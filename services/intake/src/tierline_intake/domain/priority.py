"""Priority from impact x urgency, unless a caller states it explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tierline_shared.errors import InvalidInput

PRIORITIES = ("P1", "P2", "P3", "P4")
LEVELS = ("high", "medium", "low")


@dataclass(frozen=True)
class PriorityDecision:
    priority: str
    source: str  # "matrix" or "explicit"


def validate_matrix(matrix: Mapping[str, Mapping[str, str]]) -> None:
    for impact in LEVELS:
        for urgency in LEVELS:
            value = matrix.get(impact, {}).get(urgency)
            if value not in PRIORITIES:
                raise ValueError(f"priority matrix has no valid entry for impact={impact} urgency={urgency}")


def decide_priority(
    matrix: Mapping[str, Mapping[str, str]],
    *,
    impact: str | None,
    urgency: str | None,
    explicit: str | None,
) -> PriorityDecision:
    if explicit is not None:
        return PriorityDecision(explicit, "explicit")
    if impact is None or urgency is None:
        raise InvalidInput(
            "Give impact and urgency, or an explicit priority.",
            errors=[
                {"field": name, "pointer": f"/{name}", "reason": "required when priority is not given"}
                for name, value in (("impact", impact), ("urgency", urgency))
                if value is None
            ],
        )
    return PriorityDecision(matrix[impact][urgency], "matrix")


def reprioritise(
    matrix: Mapping[str, Mapping[str, str]],
    *,
    current_priority: str,
    current_source: str,
    impact: str | None,
    urgency: str | None,
    explicit: str | None,
) -> PriorityDecision:
    """Priority after an edit: an explicit one wins; else the matrix, unless a person had set it."""
    if explicit is not None:
        return PriorityDecision(explicit, "explicit")
    if current_source == "matrix" and impact is not None and urgency is not None:
        return PriorityDecision(matrix[impact][urgency], "matrix")
    return PriorityDecision(current_priority, current_source)
