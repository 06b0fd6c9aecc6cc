"""The SLA monitor's calendars API: the business hours SLA clocks run in.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, PerRoute, mount
from tierline_shared.catalog.schemas import catalog_schemas, fields_of, kept, to_domain
from tierline_shared.catalog_schemas import Name
from tierline_shared.errors import InvalidInput
from tierline_sla_monitor.domain.calendar import Calendar, DaySpans, Weekday
from tierline_sla_monitor.entrypoints.api import PROBLEMS
from tierline_sla_monitor.entrypoints.policies_api import WORK
from tierline_sla_monitor.service_layer import calendars

router = APIRouter(prefix="/v1/sla", tags=["sla"])

CALENDAR_EXAMPLE = {
    "name": "office-hours-ny",
    "timezone": "America/New_York",
    "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-11-26", "2026-12-25"],
}


class CalendarFields(BaseModel):
    """A calendar as the API takes it, but the name."""

    timezone: str = Field(default="UTC", description="IANA zone, e.g. Europe/Berlin")
    hours: dict[Weekday, DaySpans] | None = Field(
        default=None, description="Opening spans per weekday; omit for 24x7; a weekday not listed is closed"
    )
    holidays: list[date] = Field(default_factory=list, description="Whole days closed (local dates)")


class CalendarName(BaseModel):
    name: Name


class CalendarAnswer(CalendarFields, CalendarName):
    """A calendar as the API answers it: the name first, then the fields."""


# the routes mount() adds, by verb, and their summaries
SUMMARIES: PerRoute = {
    "list": "Business calendars",
    "create": "Add a calendar",
    "get": "One calendar",
    "replace": "Replace a calendar",
    "delete": "Remove a calendar no policy uses",
}
SCHEMAS = catalog_schemas(
    "Calendar",
    CalendarFields,
    CalendarAnswer,
    is_name_first=True,
    replace=False,
    example=CALENDAR_EXAMPLE,
    out_config=ConfigDict(extra="forbid"),
)
CalendarIn, CalendarOut = SCHEMAS.create, SCHEMAS.answer


def _calendar_out(listed: Listed[Calendar]) -> Any:
    return CalendarOut(**fields_of(listed.item, CalendarAnswer), **kept(listed, CalendarOut))


def _request(body: Any, name: str) -> tuple[Calendar]:
    calendar = to_domain(Calendar, body.model_dump())  # the body's rules first, as a request's
    if body.name != name:  # replacing: the path names the calendar too
        raise InvalidInput(
            "The name in the body must be the one in the path.",
            errors=[{"field": "name", "reason": f"must be {name!r}", "pointer": "/name"}],
        )
    return (calendar,)


OPS = CatalogOps(
    WORK, "calendar", calendars, SUMMARIES, request=_request, answer=_calendar_out, replace_name=str
)
mount(router, "/calendars", SCHEMAS, OPS, responses=PROBLEMS)
