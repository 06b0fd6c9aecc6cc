"""The router's calendar API: schedules as iCalendar feeds, and layers imported from them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["schedules"])
