"""The dashboard's view model: the period asked for, figures in words, and the trend charts' data.

Pure functions over intake's reports (``GET /v1/reports/kpis`` and ``/backlog``, shapes in intake's
``report_schemas``): no I/O, so unit tests pin what the dashboard says. A ratio is a percentage, a
duration reads as people say it ("3h 20m"), and a figure intake could not compute (null: nothing to
divide by) is "—". The charts' data are the same numbers the tables show, for ``dashboard.js``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NONE = "—"
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 400  # intake's longest report period
DAILY_UP_TO = 45  # days; longer periods are charted per week


def format_duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 20m``, ``2d 4h``; "—" for none."""
    if seconds is None or math.isnan(seconds):
        return NONE
    whole = round(max(seconds, 0.0))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def format_ratio(ratio: float | None) -> str:
    """A 0..1 ratio as a percentage with one decimal (``87.5%``); "—" for none."""
    if ratio is None or math.isnan(ratio):
        return NONE
    return f"{ratio * 100:.1f}%"


def format_score(score: float | None) -> str:
    return NONE if score is None else f"{score:.1f} / 5"


def percent(ratio: float | None) -> float | None:
    """For a chart: the ratio in percent, rounded; None (a gap) for none."""
    return None if ratio is None else round(ratio * 100, 1)


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


# -- the period ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` both included (the report's [start, end))."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    @property
    def interval(self) -> str:
        return "day" if self.days <= DAILY_UP_TO else "week"

    def preset(self, today: date) -> int | None:
        """Which preset this is (the last N days up to today), if any."""
        return self.days if self.last == today and self.days in PRESETS else None

    def backlog_at(self, now: datetime) -> datetime:
        """The backlog's instant: the period's end, or now if that is still to come."""
        return max(min(self.end, now), self.start + timedelta(seconds=1))


def last_days(days: int, today: date) -> Period:
    return Period(first=today - timedelta(days=days - 1), last=today)


def _date(params: Mapping[str, str], name: str, errors: list[str]) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{name}: {raw[:20]!r} is not a date (YYYY-MM-DD)")
        return None


def parse_period(params: Mapping[str, str], today: date) -> tuple[Period, list[str]]:
    """The period of the query (``days`` preset, or ``from``/``to`` dates), and its errors in words.

    Unset, it is the last 30 days up to today; with errors, the default period comes back too.
    """
    errors: list[str] = []
    default = last_days(DEFAULT_DAYS, today)
    raw_days = (params.get("days") or "").strip()
    if raw_days:
        if raw_days not in {str(p) for p in PRESETS}:
            errors.append(f"days: one of {', '.join(map(str, PRESETS))}")
            return default, errors
        return last_days(int(raw_days), today), errors
    first, last = _date(params, "from", errors), _date(params, "to", errors)
    if errors:
        return default, errors
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last > today:
        errors.append("to: must not be after today")
    elif last < first:
        errors.append("to: must not be before from")
    elif (last - first).days + 1 > MAX_DAYS:
        errors.append(f"from: a period spans at most {MAX_DAYS} days")
    return (default, errors) if errors else (Period(first=first, last=last), errors)


# -- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    note: str = ""


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def headline(kpis: Mapping[str, Any]) -> list[Figure]:
    """The period's KPIs in words, in the order the desk reads them."""
    return [
        Figure("Created", str(kpis.get("created", 0))),
        Figure("Resolved", str(kpis.get("resolved", 0))),
        Figure("First-contact resolution (FCR)", format_ratio(kpis.get("fcr")), "of resolved"),
        Figure("First-level resolution (FLR)", format_ratio(kpis.get("flr")), "of resolved"),
        Figure("MTTA", format_duration(kpis.get("mtta_seconds")), "mean time to acknowledge"),
        Figure("MTTA p90", format_duration(kpis.get("mtta_p90_seconds")), "90th percentile"),
        Figure("MTTR", format_duration(kpis.get("mttr_seconds")), "mean time to resolve"),
        Figure("MTTR p90", format_duration(kpis.get("mttr_p90_seconds")), "90th percentile"),
        Figure(
            "Escalation rate", format_ratio(_get(kpis, "escalation_rate", "total")), "escalated ÷ created"
        ),
        Figure("Reopen rate", format_ratio(kpis.get("reopen_rate"))),
        Figure("SLA response met", format_ratio(_get(kpis, "sla", "response_met_ratio"))),
        Figure("SLA resolution met", format_ratio(_get(kpis, "sla", "resolution_met_ratio"))),
        Figure("SLA breached", str(_get(kpis, "sla", "breached") or 0), "incidents"),
        Figure("CSAT", format_score(_get(kpis, "csat", "average")), _csat_note(kpis)),
        Figure("CSAT good (4 or 5)", format_ratio(_get(kpis, "csat", "good_ratio"))),
    ]


def _csat_note(kpis: Mapping[str, Any]) -> str:
    responses = _get(kpis, "csat", "responses") or 0
    return f"{responses} response{'s' if responses != 1 else ''}"


def escalation_by_tier(kpis: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(tier, format_ratio(_get(kpis, "escalation_rate", tier))) for tier in ("L1", "L2", "L3")]


@dataclass(frozen=True)
class TierRow:
    tier: str
    created: int
    resolved: int
    fcr: str
    mtta: str
    mttr: str
    aht: str
    response_met: str
    resolution_met: str


def tier_rows(groups: Sequence[Mapping[str, Any]]) -> list[TierRow]:
    return [
        TierRow(
            tier=str(g.get("key") or "none"),
            created=int(g.get("created") or 0),
            resolved=int(g.get("resolved") or 0),
            fcr=format_ratio(g.get("fcr")),
            mtta=format_duration(g.get("mtta_seconds")),
            mttr=format_duration(g.get("mttr_seconds")),
            aht=format_duration(g.get("aht_seconds")),
            response_met=format_ratio(_get(g, "sla", "response_met_ratio")),
            resolution_met=format_ratio(_get(g, "sla", "resolution_met_ratio")),
        )
        for g in groups
    ]


@dataclass(frozen=True)
class VendorRow:
    vendor: str
    handed_off: int
    acknowledged: int
    resolved: int
    rejected: int
    failed: int
    mtta: str
    mttr: str
    response_met: str
    resolution_met: str


def vendor_rows(groups: Sequence[Mapping[str, Any]]) -> list[VendorRow]:
    """The vendor scorecard: one row per vendor (incidents never handed to one are left out)."""
    rows = []
    for g in groups:
        card = g.get("vendor")
        if g.get("key") is None or not isinstance(card, Mapping):
            continue
        rows.append(
            VendorRow(
                vendor=str(g["key"]),
                handed_off=int(card.get("handed_off") or 0),
                acknowledged=int(card.get("acknowledged") or 0),
                resolved=int(card.get("resolved") or 0),
                rejected=int(card.get("rejected") or 0),
                failed=int(card.get("failed") or 0),
                mtta=format_duration(card.get("mtta_seconds")),
                mttr=format_duration(card.get("mttr_seconds")),
                response_met=format_ratio(card.get("response_met_ratio")),
                resolution_met=format_ratio(card.get("resolution_met_ratio")),
            )
        )
    return rows


@dataclass(frozen=True)
class Backlog:
    open: int
    lt_10d: int
    d10_30: int
    gt_30d: int
    oldest: str
    completion: str
    by_tier: list[tuple[str, int, int, int, int]]  # tier, open, <10d, 10-30d, >30d


def backlog(report: Mapping[str, Any]) -> Backlog:
    def buckets(b: Mapping[str, Any] | None) -> tuple[int, int, int]:
        b = b or {}
        return int(b.get("lt_10d") or 0), int(b.get("10d_30d") or 0), int(b.get("gt_30d") or 0)

    lt, mid, gt = buckets(report.get("buckets"))
    return Backlog(
        open=int(report.get("open") or 0),
        lt_10d=lt,
        d10_30=mid,
        gt_30d=gt,
        oldest=format_duration(report.get("oldest_age_seconds")),
        completion=format_ratio(_get(report, "completion", "completion_rate")),
        by_tier=[
            (str(g.get("key") or "none"), int(g.get("open") or 0), *buckets(g.get("buckets")))
            for g in report.get("by_tier") or []
        ],
    )


# -- trends ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendRow:
    label: str
    created: int
    resolved: int
    fcr: str
    mttr: str
    response_met: str
    resolution_met: str


def _label(point: Mapping[str, Any], interval: str) -> str:
    start = str(point.get("start") or "")[:10]
    return f"week of {start}" if interval == "week" else start


def trend_rows(series: Sequence[Mapping[str, Any]], interval: str) -> list[TrendRow]:
    """The series as text: one row per interval (the charts' table)."""
    rows = []
    for point in series:
        total = point.get("total") or {}
        rows.append(
            TrendRow(
                label=_label(point, interval),
                created=int(total.get("created") or 0),
                resolved=int(total.get("resolved") or 0),
                fcr=format_ratio(total.get("fcr")),
                mttr=format_duration(total.get("mttr_seconds")),
                response_met=format_ratio(_get(total, "sla", "response_met_ratio")),
                resolution_met=format_ratio(_get(total, "sla", "resolution_met_ratio")),
            )
        )
    return rows


@dataclass(frozen=True)
class Chart:
    """One trend chart as ``dashboard.js`` draws it (``data`` goes to a data attribute as JSON)."""

    id: str
    title: str
    data: dict[str, Any]


def charts(series: Sequence[Mapping[str, Any]], interval: str) -> list[Chart]:
    """Created/resolved (bars), FCR, MTTR and SLA compliance (lines) per interval; nulls are gaps."""
    labels = [_label(p, interval) for p in series]
    totals = [p.get("total") or {} for p in series]

    def chart(kind: str, unit: str, datasets: list[tuple[str, list[Any]]]) -> dict[str, Any]:
        return {
            "type": kind,
            "unit": unit,
            "labels": labels,
            "datasets": [{"label": name, "data": values} for name, values in datasets],
        }

    return [
        Chart(
            "chart-volume",
            "Created and resolved",
            chart(
                "bar",
                "incidents",
                [
                    ("Created", [int(t.get("created") or 0) for t in totals]),
                    ("Resolved", [int(t.get("resolved") or 0) for t in totals]),
                ],
            ),
        ),
        Chart(
            "chart-fcr",
            "First-contact resolution",
            chart("line", "%", [("FCR", [percent(t.get("fcr")) for t in totals])]),
        ),
        Chart(
            "chart-mttr",
            "Mean time to resolve",
            chart("line", "hours", [("MTTR", [hours(t.get("mttr_seconds")) for t in totals])]),
        ),
        Chart(
            "chart-sla",
            "SLA compliance",
            chart(
                "line",
                "%",
                [
                    ("Response met", [percent(_get(t, "sla", "response_met_ratio")) for t in totals]),
                    ("Resolution met", [percent(_get(t, "sla", "resolution_met_ratio")) for t in totals]),
                ],
            ),
        ),
    ]
