"""The router's schedules API: on-call schedules, overrides and who is on call (issue 20; being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["schedules"])
