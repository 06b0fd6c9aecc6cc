"""The KPI dashboard (``GET /dashboard``): intake's reports for a period, as figures, tables and charts.

The period comes from the query (``days`` = 7, 30 or 90, or ``from``/``to`` dates, whole UTC days);
the page reads, concurrently and with the person's key, intake's KPIs over the period per day or
week, per tier and per vendor, and the backlog at the period's end. Every chart's numbers are in a
table as well, so the page reads without JavaScript and to a screen reader.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tierline_console import dashboard_view as view
from tierline_console.web import ConsoleDep, SessionDep

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    now = app.clock.now()
    today = now.date()
    period, errors = view.parse_period(dict(request.query_params), today)
    context: dict[str, Any] = {
        "title": "Dashboard",
        "period": period,
        "presets": view.PRESETS,
        "preset": None if errors else period.preset(today),
        "errors": errors,
    }
    if errors:
        return app.render(request, "dashboard.html", session=session, status=422, report=None, **context)
    span = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    at = period.backlog_at(now)

    def kpis(**params: str) -> Any:
        return app.upstreams.get("intake", "/v1/reports/kpis", session.api_key, params={**span, **params})

    trend, tiers, vendors, backlog = await asyncio.gather(
        kpis(interval=period.interval),
        kpis(group_by="tier"),
        kpis(group_by="vendor"),
        app.upstreams.get(
            "intake",
            "/v1/reports/backlog",
            session.api_key,
            params={"at": at.isoformat(), "from": span["from"], "to": at.isoformat()},
        ),
    )
    total = trend["total"]
    report = {
        "headline": view.headline(total),
        "escalation": view.escalation_by_tier(total),
        "tiers": view.tier_rows(tiers.get("groups") or []),
        "vendors": view.vendor_rows(vendors.get("groups") or []),
        "backlog": view.backlog(backlog),
        "backlog_at": at.strftime("%d %b %Y %H:%M UTC"),
        "trend": view.trend_rows(trend.get("series") or [], period.interval),
        "charts": view.charts(trend.get("series") or [], period.interval),
    }
    return app.render(request, "dashboard.html", session=session, report=report, **context)
