"""The incident state machine: which status may follow which."""

from __future__ import annotations

from enum import StrEnum

from tierline_shared.errors import Conflict


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset(),
}


class IllegalTransition(Conflict):
    type_slug = "illegal-transition"
    title = "That change is not allowed in the incident's current status"


def can_transition(current: Status, target: Status) -> bool:
    return target in _ALLOWED[current]


def check_transition(current: Status, target: Status) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(
            f"An incident that is {current.value} cannot become {target.value}.",
            current_status=current.value,
            requested_status=target.value,
        )


def is_open(status: Status) -> bool:
    return status is not Status.RESOLVED
