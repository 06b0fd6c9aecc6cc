"""Home: the L1 board (boards live in ``board``, the incident page in ``incident``, my work,
dashboard and admin in their own modules)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from tierline_console.web import HOME

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return RedirectResponse(HOME, status_code=303)
