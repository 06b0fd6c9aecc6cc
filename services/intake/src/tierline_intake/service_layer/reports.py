"""The KPI and backlog reports: what to count (query objects) and the answer assembled from the SQL's
counts (ratios divided here, ``None`` where the denominator is 0).

``kpis(session, KpiQuery)`` and ``backlog(session, BacklogQuery)`` read through the session they are
given: the endpoints pass one REPEATABLE READ snapshot so the parts of a report agree.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters import reports as sql

Row = Mapping[str, Any]


# -- the questions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiQuery:
    """Incidents created in [start, end) matching ``filters``, optionally per group and per interval."""

    start: datetime
    end: datetime
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    group_by: str | None = None  # one of DIMENSIONS
    interval: str | None = None  # one of INTERVALS


@dataclass(frozen=True)
class BacklogQuery:
    """The backlog open at ``at``; the completion of [start, end), per interval if one is given."""

    at: datetime
    start: datetime
    end: datetime
    interval: str | None = None


# -- the answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationRates:
    L1: float | None
    L2: float | None
    L3: float | None
    total: float | None


@dataclass(frozen=True)
class Csat:
    responses: int
    average: float | None
    good_ratio: float | None


@dataclass(frozen=True)
class Sla:
    response_met_ratio: float | None
    resolution_met_ratio: float | None
    breached: int


@dataclass(frozen=True)
class VendorKpis:
    handed_off: int
    acknowledged: int
    resolved: int
    rejected: int
    failed: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    response_met_ratio: float | None
    resolution_met_ratio: float | None


@dataclass(frozen=True)
class Kpis:
    created: int
    resolved: int
    reopened: int
    flr: float | None
    fcr: float | None
    escalation_rate: EscalationRates
    mtta_seconds: float | None
    mtta_p50_seconds: float | None
    mtta_p90_seconds: float | None
    mttr_seconds: float | None
    mttr_p50_seconds: float | None
    mttr_p90_seconds: float | None
    aht_seconds: float | None
    reopen_rate: float | None
    csat: Csat
    knowledge_link_rate: float | None
    sla: Sla
    vendor: VendorKpis | None = None  # only grouped by vendor


@dataclass(frozen=True)
class Group:
    key: str | None
    kpis: Kpis


@dataclass(frozen=True)
class Point:
    start: datetime
    end: datetime
    total: Kpis
    groups: list[Group]


@dataclass(frozen=True)
class KpiReport:
    start: datetime
    end: datetime
    group_by: str | None
    interval: str | None
    total: Kpis
    groups: list[Group]
    series: list[Point]


@dataclass(frozen=True)
class Ageing:
    """Open incidents and how old they are at the backlog's instant."""

    open: int
    lt_10d: int
    d10_30: int  # 10 to 30 days, both included
    gt_30d: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class BacklogGroup:
    key: str | None
    ageing: Ageing


@dataclass(frozen=True)
class Completion:
    """Resolved in a period against the work it had: open at its start plus created in it."""

    start: datetime
    end: datetime
    open_at_start: int
    created: int
    resolved: int
    open_at_end: int
    completion_rate: float | None


@dataclass(frozen=True)
class BacklogReport:
    at: datetime
    interval: str | None
    total: Ageing
    by_tier: list[BacklogGroup]
    by_queue: list[BacklogGroup]
    by_priority: list[BacklogGroup]
    completion: Completion
    series: list[Completion]


# -- intervals (UTC, like the SQL's date_trunc) ---------------------------------------------------


def _truncate(moment: datetime, interval: str) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday, as date_trunc's
    if interval == "month":
        return day.replace(day=1)
    return day


def _next(start: datetime, interval: str) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    days = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days)


def interval_starts(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """The UTC starts of the intervals overlapping [start, end), the first one truncated."""
    starts = []
    at = _truncate(start, interval)
    while at < end:
        starts.append(at)
        at = _next(at, interval)
    return starts


def _spans(start: datetime, end: datetime, interval: str) -> list[tuple[datetime, datetime, datetime]]:
    """(bucket, span start, span end) per interval: spans are the intervals clipped to [start, end)."""
    return [(b, max(b, start), min(_next(b, interval), end)) for b in interval_starts(start, end, interval)]


# -- the KPI report -------------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _met(row: Row, clock: str) -> float | None:
    met = row.get(f"{clock}_met", 0)
    return _ratio(met, met + row.get(f"{clock}_missed", 0))


def _vendor(row: Row) -> VendorKpis:
    def n(name: str) -> int:
        return int(row.get(f"vendor_{name}", 0))

    return VendorKpis(
        **{name: n(name) for name in ("handed_off", "acknowledged", "resolved", "rejected", "failed")},
        mtta_seconds=_float(row.get("vendor_mtta")),
        mttr_seconds=_float(row.get("vendor_mttr")),
        response_met_ratio=_met(row, "vendor_response"),
        resolution_met_ratio=_met(row, "vendor_resolution"),
    )


def _kpis(found: Row | None, aht: float | None, vendor: bool) -> Kpis:
    """One group's KPIs from its counts (``None``: nothing created in it) and its handle time."""
    row: Row = found or {}

    def n(name: str) -> int:
        return int(row.get(name, 0))

    resolved = n("resolved")
    return Kpis(
        created=n("created"),
        resolved=resolved,
        reopened=n("reopened"),
        flr=_ratio(n("first_level"), resolved),
        fcr=_ratio(n("first_contact"), resolved),
        escalation_rate=EscalationRates(
            **{t: _ratio(n(f"escalated_{t}"), n(f"held_{t}")) for t in sql.ESCALATING_TIERS},
            total=_ratio(n("escalated"), n("created")),
        ),
        **{
            f"{kind}{suffix}_seconds": _float(row.get(f"{kind}_{stat}"))
            for kind in ("mtta", "mttr")
            for suffix, stat in (("", "avg"), ("_p50", "p50"), ("_p90", "p90"))
        },
        aht_seconds=aht,
        reopen_rate=_ratio(n("reopened"), n("ever_resolved")),
        csat=Csat(
            responses=n("csat_responses"),
            average=_float(row.get("csat_average")),
            good_ratio=_ratio(n("csat_good"), n("csat_responses")),
        ),
        knowledge_link_rate=_ratio(n("knowledge_linked"), resolved),
        sla=Sla(
            response_met_ratio=_met(row, "response"),
            resolution_met_ratio=_met(row, "resolution"),
            breached=n("breached"),
        ),
        vendor=_vendor(row) if vendor else None,
    )


Cell = tuple[bool, str | None, bool, datetime | None]  # (all keys, key, all buckets, bucket)


def _cell(row: Row) -> Cell:
    return (bool(row["all_keys"]), row["key"], bool(row["all_buckets"]), row["bucket"])


def _key_order(key: str | None) -> tuple[bool, str]:
    return (key is None, key or "")


async def kpis(session: AsyncSession, query: KpiQuery) -> KpiReport:
    """The KPI report: the facts' counts and means; their quantiles (and per tier, queue or agent
    the stints' handle time), each cut by CUBE(group, interval)."""
    window = sql.FactsWindow(query.start, query.end, query.filters)
    await sql.roomy_sorts(session)
    counts = {_cell(r): dict(r) for r in await sql.kpi_rows(session, window, query.group_by, query.interval)}
    # AHT: over the stints of each cell's incidents (the facts sum them), but per tier, queue or
    # agent over the stints at that tier, queue or agent (the spread's 'stints' rows)
    per_stint = query.group_by in sql.STINT_DIMENSIONS
    handle = {cell: _float(row["aht"]) for cell, row in counts.items() if cell[0] or not per_stint}
    for row in await sql.spread_rows(session, window, query.group_by, query.interval):
        cell = _cell(row)
        if row["source"] == "stints":
            handle[cell] = _float(row["aht"])
        else:  # mtta or mttr: [p50, p90] (None: no value, in all when nothing was created)
            found = counts.setdefault(cell, {})
            found[f"{row['source']}_p50"], found[f"{row['source']}_p90"] = row["q"] or (None, None)
    vendor = query.group_by == "vendor"

    def kpis_of(cell: Cell) -> Kpis:
        return _kpis(counts.get(cell), handle.get(cell), vendor)

    def groups_of(bucket_all: bool, bucket: datetime | None) -> list[Group]:
        if query.group_by is None:
            return []
        keys = {cell[1] for cell in (*counts, *handle) if not cell[0] and cell[2:] == (bucket_all, bucket)}
        return [Group(key, kpis_of((False, key, bucket_all, bucket))) for key in sorted(keys, key=_key_order)]

    series = []
    if query.interval is not None:
        for bucket, start, end in _spans(query.start, query.end, query.interval):
            series.append(Point(start, end, kpis_of((True, None, False, bucket)), groups_of(False, bucket)))
    return KpiReport(
        start=query.start,
        end=query.end,
        group_by=query.group_by,
        interval=query.interval,
        total=kpis_of((True, None, True, None)),
        groups=groups_of(True, None),
        series=series,
    )


# -- the backlog report ---------------------------------------------------------------------------


def _ageing(row: Row | None) -> Ageing:
    if row is None:
        return Ageing(open=0, lt_10d=0, d10_30=0, gt_30d=0, oldest_age_seconds=None)
    return Ageing(
        open=row["open"],
        lt_10d=row["lt_10d"],
        d10_30=row["10d_30d"],
        gt_30d=row["gt_30d"],
        oldest_age_seconds=_float(row["oldest_age_seconds"]),
    )


def _completion(
    start: datetime, end: datetime, open_at_start: int, created: int, resolved: int
) -> Completion:
    return Completion(
        start=start,
        end=end,
        open_at_start=open_at_start,
        created=created,
        resolved=resolved,
        open_at_end=open_at_start + created - resolved,
        completion_rate=_ratio(resolved, open_at_start + created),
    )


async def backlog(session: AsyncSession, query: BacklogQuery) -> BacklogReport:
    """The backlog report: two queries (open at ``at`` by GROUPING SETS; the period's flow)."""
    await sql.roomy_sorts(session)
    cuts: dict[str, list[Row]] = {cut: [] for cut in sql.CUTS.values()}
    for row in await sql.open_rows(session, query.at):
        cuts[sql.CUTS[row["cut"]]].append(row)

    def groups(cut: str) -> list[BacklogGroup]:
        found = [BacklogGroup(row[cut], _ageing(row)) for row in cuts[cut]]
        return sorted(found, key=lambda g: _key_order(g.key))

    flow: dict[tuple[str, datetime | None], int] = {}
    for row in await sql.flow_rows(session, query.start, query.end, query.interval):
        flow[(row["kind"], row["bucket"])] = row["n"]
    open_at_start = flow.get(("open_at_start", None), 0)
    series = []
    if query.interval is not None:
        running = open_at_start
        for bucket, start, end in _spans(query.start, query.end, query.interval):
            point = _completion(
                start, end, running, flow.get(("created", bucket), 0), flow.get(("resolved", bucket), 0)
            )
            series.append(point)
            running = point.open_at_end
    created = sum(n for (kind, _), n in flow.items() if kind == "created")
    resolved = sum(n for (kind, _), n in flow.items() if kind == "resolved")
    return BacklogReport(
        at=query.at,
        interval=query.interval,
        total=_ageing(cuts["total"][0] if cuts["total"] else None),
        by_tier=groups("tier"),
        by_queue=groups("queue"),
        by_priority=groups("priority"),
        completion=_completion(query.start, query.end, open_at_start, created, resolved),
        series=series,
    )
