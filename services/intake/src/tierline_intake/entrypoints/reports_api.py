"""The service desk's KPI and backlog reports (``incidents:read``), as JSON or, on ``Accept: text/csv``, CSV.

Each report is read in one REPEATABLE READ snapshot after the stale facts are caught up, so it is
exact as of its request and its parts agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tierline_intake.domain.incident import INCIDENT_TYPES
from tierline_intake.entrypoints.common import (
    AUTH_PROBLEMS,
    check_storable,
    check_times,
    check_values,
    invalid_query,
)
from tierline_intake.entrypoints.report_schemas import BacklogReportOut, KpiReportOut
from tierline_intake.entrypoints.schemas import Channel
from tierline_intake.entrypoints.workers import catch_up_facts
from tierline_intake.service_layer import reports
from tierline_intake.service_layer.reports import BacklogQuery, Completion, Group, KpiQuery, Kpis
from tierline_shared.api import Reader, RuntimeDep

router = APIRouter(prefix="/v1/reports", tags=["reports"])

MAX_DAYS = 400
MAX_POINTS = 400
MAX_VALUES = 50  # values of one repeatable filter
DEFAULT_PERIOD = timedelta(days=30)  # the backlog's completion period when none is given
CSV_TYPE = "text/csv"
CSV_CONTENT = {CSV_TYPE: {"schema": {"type": "string"}}}
REPORT_PROBLEMS = {
    **AUTH_PROBLEMS,
    422: {"description": "Invalid query: each error names its parameter (problem+json)"},
}
GroupBy = Literal["tier", "queue", "agent", "channel", "priority", "service", "category", "type", "vendor"]
Interval = Literal["day", "week", "month"]
CHANNELS = set(get_args(Channel))

# -- rendering ------------------------------------------------------------------------------------


def _kpis(kpis: Kpis) -> dict[str, Any]:
    return asdict(kpis)


def _group(group: Group) -> dict[str, Any]:
    return {"key": group.key, **_kpis(group.kpis)}


def _ageing(ageing: reports.Ageing) -> dict[str, Any]:
    buckets = {"lt_10d": ageing.lt_10d, "10d_30d": ageing.d10_30, "gt_30d": ageing.gt_30d}
    return {"open": ageing.open, "buckets": buckets, "oldest_age_seconds": ageing.oldest_age_seconds}


def _completion(c: Completion) -> dict[str, Any]:
    return {"from": c.start, "to": c.end, **{k: v for k, v in asdict(c).items() if k not in ("start", "end")}}


def _flat(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in record.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else "" if value is None else value


def _csv(rows: Iterable[Mapping[str, Any]], filename: str) -> Response:
    flat = [dict(_flat(row)) for row in rows]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({name: _cell(value) for name, value in row.items()} for row in flat)
    return Response(
        out.getvalue(),
        media_type=f"{CSV_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _wants_csv(request: Request) -> bool:
    return CSV_TYPE in request.headers.get("accept", "").lower()


# -- validation -----------------------------------------------------------------------------------


def _check_period(start: datetime, end: datetime) -> None:
    check_times(**{"from": start, "to": end})
    if end <= start:
        invalid_query("to", "must be after from")
    if end - start > timedelta(days=MAX_DAYS):
        invalid_query("to", f"the period spans at most {MAX_DAYS} days")


def _check_interval(start: datetime, end: datetime, interval: str | None) -> None:
    if interval is not None and len(reports.interval_starts(start, end, interval)) > MAX_POINTS:
        invalid_query(
            "interval", f"gives more than {MAX_POINTS} points over the period; use a longer interval"
        )


def _check_filters(filters: Mapping[str, list[str] | None]) -> dict[str, list[str]]:
    for name, values in filters.items():
        if values and len(values) > MAX_VALUES:
            invalid_query(name, f"at most {MAX_VALUES} values")
        for value in values or []:
            if not value or len(value) > 120:
                invalid_query(name, "each value has 1 to 120 characters")
            check_storable(**{name: value})
    check_values("priority", filters.get("priority"), {"P1", "P2", "P3", "P4"})
    check_values("channel", filters.get("channel"), CHANNELS)
    check_values("type", filters.get("type"), set(INCIDENT_TYPES))
    return {name: values for name, values in filters.items() if values}


def _repeatable(what: str) -> Any:
    return Query(description=f"{what}; repeat for several (OR)")


# -- routes ---------------------------------------------------------------------------------------


@router.get(
    "/kpis",
    response_model=KpiReportOut,
    responses={200: {"content": CSV_CONTENT}, **REPORT_PROBLEMS},
    summary="KPIs of the incidents created in a period: FCR, FLR, AHT, MTTA, MTTR, escalation, CSAT, SLA",
    description=(
        "Over incidents created in [from, to) (at most 400 days) matching the filters; group_by one "
        "dimension, interval for a series (UTC). With `Accept: text/csv`, one row per group (per "
        "series point with interval), nested fields flattened (`escalation_rate.L1`, `csat.average`)."
    ),
)
async def kpi_report(
    request: Request,
    rt: RuntimeDep,
    principal: Reader,
    from_: Annotated[datetime, Query(alias="from", description="inclusive, ISO 8601 with offset")],
    to: Annotated[datetime, Query(description="exclusive, ISO 8601 with offset")],
    service: Annotated[list[str] | None, _repeatable("service")] = None,
    category: Annotated[list[str] | None, _repeatable("category")] = None,
    priority: Annotated[list[str] | None, _repeatable("P1..P4")] = None,
    channel: Annotated[list[str] | None, _repeatable("web, email, chat, phone, monitoring, api")] = None,
    type_: Annotated[list[str] | None, Query(alias="type", description="incident, service_request")] = None,
    queue: Annotated[list[str] | None, _repeatable("the queue holding it now")] = None,
    group_by: Annotated[GroupBy | None, Query(description="one dimension to group by")] = None,
    interval: Annotated[Interval | None, Query(description="a series per day, week or month (UTC)")] = None,
) -> Any:
    _check_period(from_, to)
    _check_interval(from_, to, interval)
    filters = _check_filters(
        {
            "service": service,
            "category": category,
            "priority": priority,
            "channel": channel,
            "type": type_,
            "queue": queue,
        }
    )
    query = KpiQuery(start=from_, end=to, filters=filters, group_by=group_by, interval=interval)
    await catch_up_facts(rt)
    async with rt.snapshot() as session:
        report = await reports.kpis(session, query)
    if _wants_csv(request):
        rows: list[dict[str, Any]] = []
        points = report.series or [reports.Point(report.start, report.end, report.total, report.groups)]
        for point in points:
            span = {"start": point.start, "end": point.end, "group_by": report.group_by}
            rows.append({**span, "row": "total", "key": None, **_kpis(point.total)})
            rows.extend({**span, "row": "group", **_group(g)} for g in point.groups)
        return _csv(rows, "kpis.csv")
    return KpiReportOut.model_validate(
        {
            "from": report.start,
            "to": report.end,
            "group_by": report.group_by,
            "interval": report.interval,
            "total": _kpis(report.total),
            "groups": [_group(g) for g in report.groups],
            "series": [
                {
                    "start": p.start,
                    "end": p.end,
                    "total": _kpis(p.total),
                    "groups": [_group(g) for g in p.groups],
                }
                for p in report.series
            ],
        }
    )


@router.get(
    "/backlog",
    response_model=BacklogReportOut,
    responses={200: {"content": CSV_CONTENT}, **REPORT_PROBLEMS},
    summary="Open incidents at an instant with their ageing, and a period's completion rate",
    description=(
        "Open at `at` (default now): created by then and not resolved by then, in all and per tier, "
        "queue (of the stint holding it at `at`) and priority, in the HDI ageing buckets. The completion "
        "rate is over [from, to) (default: the 30 days before `at`); interval gives it per interval. "
        "With `Accept: text/csv`, one row per cut and per series point."
    ),
)
async def backlog_report(
    request: Request,
    rt: RuntimeDep,
    principal: Reader,
    at: Annotated[datetime | None, Query(description="the instant; default now")] = None,
    from_: Annotated[datetime | None, Query(alias="from", description="completion period start")] = None,
    to: Annotated[datetime | None, Query(description="completion period end (exclusive); default at")] = None,
    interval: Annotated[Interval | None, Query(description="completion per day, week or month (UTC)")] = None,
) -> Any:
    check_times(at=at, **{"from": from_, "to": to})
    at = at or rt.clock.now()
    end = to or at
    start = from_ or end - DEFAULT_PERIOD
    _check_period(start, end)
    _check_interval(start, end, interval)
    await catch_up_facts(rt)
    async with rt.snapshot() as session:
        report = await reports.backlog(session, BacklogQuery(at=at, start=start, end=end, interval=interval))
    cuts = {"tier": report.by_tier, "queue": report.by_queue, "priority": report.by_priority}
    if _wants_csv(request):
        rows: list[dict[str, Any]] = [{"row": "total", "key": None, "at": report.at, **_ageing(report.total)}]
        for cut, found in cuts.items():
            rows.extend({"row": cut, "key": g.key, "at": report.at, **_ageing(g.ageing)} for g in found)
        rows.append({"row": "period", **_completion(report.completion)})
        rows.extend({"row": "interval", **_completion(c)} for c in report.series)
        return _csv(rows, "backlog.csv")
    return BacklogReportOut.model_validate(
        {
            "at": report.at,
            "interval": report.interval,
            **_ageing(report.total),
            **{
                f"by_{cut}": [{"key": g.key, **_ageing(g.ageing)} for g in found]
                for cut, found in cuts.items()
            },
            "completion": _completion(report.completion),
            "series": [_completion(c) for c in report.series],
        }
    )
