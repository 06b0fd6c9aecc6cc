"""On-call schedules: the pure rules deciding who is on shift (see ``localtime`` for DST days)."""

from tierline_router.domain.schedules.localtime import resolve
from tierline_router.domain.schedules.model import (
    MAX_CALENDAR_SHIFTS,
    MAX_OVERRIDE,
    MAX_RANGE,
    OVERRIDE,
    WEEKDAYS,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    parse_clock,
    parse_days,
    parse_rotation,
    parse_zone,
    validate,
)
from tierline_router.domain.schedules.timeline import oncall, shifts

__all__ = [
    "MAX_CALENDAR_SHIFTS",
    "MAX_OVERRIDE",
    "MAX_RANGE",
    "OVERRIDE",
    "WEEKDAYS",
    "CalendarLayer",
    "InvalidSchedule",
    "Layer",
    "Override",
    "Restriction",
    "Rotation",
    "Schedule",
    "Shift",
    "oncall",
    "parse_clock",
    "parse_days",
    "parse_rotation",
    "parse_zone",
    "resolve",
    "shifts",
    "validate",
]
