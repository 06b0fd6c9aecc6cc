"""The incident state machine: which status may follow which, and the rules around them."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from tierline_shared.errors import Conflict


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class HoldReason(StrEnum):
    AWAITING_CUSTOMER = "awaiting_customer"
    AWAITING_VENDOR = "awaiting_vendor"
    AWAITING_CHANGE = "awaiting_change"


_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.ON_HOLD, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.ON_HOLD, Status.RESOLVED}),
    # resume returns to the status held before; resolving while on hold is allowed
    Status.ON_HOLD: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),  # reopen, close
    Status.CLOSED: frozenset(),
}

OPEN_STATUSES = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ON_HOLD})


class IllegalTransition(Conflict):
    type_slug = "illegal-transition"
    title = "That change is not allowed in the incident's current status"


def can_transition(current: Status, target: Status) -> bool:
    return target in _ALLOWED[current]


def check_transition(current: Status, target: Status, *, action: str | None = None) -> None:
    if not can_transition(current, target):
        verb = action or f"become {target.value}"
        raise IllegalTransition(
            f"An incident that is {current.value} cannot {verb}.",
            current_status=current.value,
            requested_status=target.value,
        )


def is_open(status: Status) -> bool:
    return status in OPEN_STATUSES


def status_after_resume(acknowledged_at: datetime | None) -> Status:
    """Resuming returns to where the incident was: acknowledged if someone had taken it."""
    return Status.ACKNOWLEDGED if acknowledged_at is not None else Status.OPEN


def check_reopen(resolved_at: datetime | None, now: datetime, window: timedelta) -> None:
    if resolved_at is None or now - resolved_at > window:
        raise IllegalTransition(
            f"The reopen window of {window} after resolution has passed; open a new incident.",
            current_status=Status.RESOLVED.value,
            requested_status=Status.OPEN.value,
            reopen_window_seconds=window.total_seconds(),
        )


def check_csat(status: Status, already_rated: bool) -> None:
    if status not in (Status.RESOLVED, Status.CLOSED):
        raise IllegalTransition(
            "Satisfaction is recorded after resolution.",
            current_status=status.value,
            requested_status="rated",
        )
    if already_rated:
        raise Conflict("Satisfaction was already recorded for this incident.", current_status=status.value)


EDITABLE_FIELDS = ("priority", "impact", "urgency", "category", "service", "product", "title", "description")


def check_editable(status: Status) -> None:
    if not is_open(status):
        raise IllegalTransition(
            f"An incident that is {status.value} can no longer be edited; reopen it first.",
            current_status=status.value,
            requested_status="updated",
        )
