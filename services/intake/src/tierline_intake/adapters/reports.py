"""The reports' SQL: KPI aggregates over ``incident_facts`` / ``incident_stints``, and the backlog.

Each report is a few set-wise queries whatever its groups and intervals: one ``GROUP BY CUBE``
(key, interval bucket) yields the total, every group, every interval and every group of every
interval at once (``GROUPING()`` tells a null key from the rows over all keys). Counts come back
raw; the service layer divides them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Select,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from tierline_intake.adapters.orm import IncidentFacts as F
from tierline_intake.adapters.orm import IncidentStint as S

DIMENSIONS = ("tier", "queue", "agent", "channel", "priority", "service", "category", "type", "vendor")
STINT_DIMENSIONS = frozenset({"tier", "queue", "agent"})  # AHT counts the stints at that tier/queue/agent
FILTERS = ("service", "category", "priority", "channel", "type", "queue")
INTERVALS = ("day", "week", "month")
ESCALATING_TIERS = ("L1", "L2", "L3")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class FactsWindow:
    """Incidents created in [start, end) whose columns match every filter (values OR'ed per filter)."""

    start: datetime
    end: datetime
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _where(window: FactsWindow) -> list[ColumnElement[bool]]:
    conditions = [F.created_at >= window.start, F.created_at < window.end]
    for name, values in window.filters.items():
        if name not in FILTERS:
            raise ValueError(f"not a report filter: {name}")
        if values:
            conditions.append(getattr(F, name).in_(list(values)))
    return conditions


def _bucket(column: Any, interval: str) -> ColumnElement[datetime]:
    """The UTC start of the interval holding ``column`` (a literal unit, so GROUP BY matches it)."""
    if interval not in INTERVALS:
        raise ValueError(f"not an interval: {interval}")
    return func.date_trunc(
        literal_column(f"'{interval}'"), column, literal_column("'UTC'"), type_=DateTime(True)
    )


def _seconds(later: Any, earlier: Any) -> ColumnElement[float]:
    # date_part, not extract: a double precision straight away (extract is numeric: slow to average)
    return func.date_part("epoch", later - earlier, type_=Float)


def _count(condition: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    return func.count().filter(condition) if condition is not None else func.count()


def _quantiles(value: ColumnElement[float]) -> ColumnElement[Any]:
    """p50 and p90 from one sort (percentile_cont of an array of fractions)."""
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(value)


def _kpi_columns() -> list[ColumnElement[Any]]:
    resolved = F.resolved_at.is_not(None)
    columns: list[ColumnElement[Any]] = [
        _count().label("created"),
        _count(resolved).label("resolved"),
        _count(F.reopen_count > 0).label("reopened"),
        _count(or_(resolved, F.reopen_count > 0)).label("ever_resolved"),
        _count(and_(resolved, F.l1_only)).label("first_level"),
        _count(
            and_(resolved, F.l1_only, F.reassignments == 0, F.reopen_count == 0, F.first_contact.is_(True))
        ).label("first_contact"),
        _count(func.cardinality(F.escalated_from) > 0).label("escalated"),
    ]
    for tier in ESCALATING_TIERS:
        held = literal(tier) == any_(F.tiers_held)
        columns.append(_count(held).label(f"held_{tier}"))
        columns.append(_count(and_(held, literal(tier) == any_(F.escalated_from))).label(f"escalated_{tier}"))
    columns += [
        func.avg(_seconds(F.first_ack_at, F.created_at)).label("mtta_avg"),
        func.avg(_seconds(F.resolved_at, F.created_at)).label("mttr_avg"),
    ]
    columns += [
        _count(F.csat_score.is_not(None)).label("csat_responses"),
        cast(func.avg(F.csat_score), Float).label("csat_average"),
        _count(F.csat_score >= 4).label("csat_good"),
        _count(and_(resolved, F.knowledge_linked)).label("knowledge_linked"),
        _count(F.response_met.is_(True)).label("response_met"),
        _count(F.response_met.is_(False)).label("response_missed"),
        _count(F.resolution_met.is_(True)).label("resolution_met"),
        _count(F.resolution_met.is_(False)).label("resolution_missed"),
        _count(F.breached.is_(True)).label("breached"),
    ]
    return columns


def _vendor_columns() -> list[ColumnElement[Any]]:
    handed = F.vendor_handoff_at.is_not(None)
    return [
        _count(handed).label("vendor_handed_off"),
        _count(and_(handed, F.vendor_ack_at.is_not(None))).label("vendor_acknowledged"),
        _count(and_(handed, F.vendor_resolved_at.is_not(None))).label("vendor_resolved"),
        _count(and_(handed, F.vendor_rejected)).label("vendor_rejected"),
        _count(and_(handed, F.vendor_failed)).label("vendor_failed"),
        func.avg(_seconds(F.vendor_ack_at, F.vendor_handoff_at)).label("vendor_mtta"),
        func.avg(_seconds(F.vendor_resolved_at, F.vendor_handoff_at)).label("vendor_mttr"),
        _count(and_(handed, F.vendor_response_met.is_(True))).label("vendor_response_met"),
        _count(and_(handed, F.vendor_response_met.is_(False))).label("vendor_response_missed"),
        _count(and_(handed, F.vendor_resolution_met.is_(True))).label("vendor_resolution_met"),
        _count(and_(handed, F.vendor_resolution_met.is_(False))).label("vendor_resolution_missed"),
    ]


def _cube(
    columns: list[ColumnElement[Any]], key: Any | None, bucket: ColumnElement[datetime] | None
) -> Select[Any]:
    """``columns`` over every combination of key and bucket, with markers telling which a row is over."""
    dims = [d for d in (key, bucket) if d is not None]
    head: list[ColumnElement[Any]] = [
        (key if key is not None else null()).label("key"),
        (func.grouping(key) if key is not None else literal(1)).label("all_keys"),
        (bucket if bucket is not None else null()).label("bucket"),
        (func.grouping(bucket) if bucket is not None else literal(1)).label("all_buckets"),
    ]
    query = select(*head, *columns)
    return query.group_by(func.cube(*dims)) if dims else query


async def kpi_rows(
    session: AsyncSession, window: FactsWindow, group_by: str | None, interval: str | None
) -> list[Row]:
    """Counts and duration aggregates of the facts, per (key, bucket), per key, per bucket and in all."""
    key = getattr(F, group_by) if group_by else None
    bucket = _bucket(F.created_at, interval) if interval else None
    columns = _kpi_columns() + (_vendor_columns() if group_by == "vendor" else [])
    query = _cube(columns, key, bucket).select_from(F).where(*_where(window))
    return [dict(row._mapping) for row in await session.execute(query)]


async def quantile_rows(
    session: AsyncSession, window: FactsWindow, group_by: str | None, interval: str | None
) -> list[Row]:
    """p50 and p90 of time to acknowledge and to resolve, cut like ``kpi_rows``.

    Apart from the counts: ordered-set aggregates sort, which would keep the counts from hashing.
    """
    key = getattr(F, group_by) if group_by else None
    bucket = _bucket(F.created_at, interval) if interval else None
    columns: list[ColumnElement[Any]] = [
        _quantiles(_seconds(F.first_ack_at, F.created_at)).label("mtta_q"),
        _quantiles(_seconds(F.resolved_at, F.created_at)).label("mttr_q"),
    ]
    timed = or_(F.first_ack_at.is_not(None), F.resolved_at.is_not(None))
    query = _cube(columns, key, bucket).select_from(F).where(*_where(window), timed)
    return [dict(row._mapping) for row in await session.execute(query)]


async def roomy_sorts(session: AsyncSession) -> None:
    """Let this transaction's sorts and hashes stay in memory (a report's are a few MB)."""
    await session.execute(text("SET LOCAL work_mem = '32MB'"))


async def handle_time_rows(
    session: AsyncSession, window: FactsWindow, group_by: str | None, interval: str | None
) -> list[Row]:
    """Average handle time of the stints of the window's incidents, cut like ``kpi_rows``.

    Grouped by tier, queue or agent, a stint counts where it was (its own tier/queue/agent);
    grouped otherwise, it counts with its incident's group.
    """
    key: Any = None
    if group_by:
        key = getattr(S if group_by in STINT_DIMENSIONS else F, group_by)
    bucket = _bucket(F.created_at, interval) if interval else None
    columns: list[ColumnElement[Any]] = [
        func.avg(S.handle_seconds).label("aht"),
    ]
    query = (
        _cube(columns, key, bucket)
        .select_from(S)
        .join(F, F.incident_id == S.incident_id)
        .where(*_where(window), S.handle_seconds.is_not(None))
    )
    return [dict(row._mapping) for row in await session.execute(query)]


# -- the backlog --------------------------------------------------------------------------------

_OPEN_AT = text(
    """
    SELECT GROUPING(cover.tier, cover.queue, f.priority) AS cut,
           cover.tier, cover.queue, f.priority,
           count(*) AS open,
           count(*) FILTER (WHERE :at - f.created_at < interval '10 days') AS lt_10d,
           count(*) FILTER (WHERE :at - f.created_at >= interval '10 days'
                              AND :at - f.created_at <= interval '30 days') AS "10d_30d",
           count(*) FILTER (WHERE :at - f.created_at > interval '30 days') AS gt_30d,
           CAST(extract(epoch FROM max(:at - f.created_at)) AS double precision) AS oldest_age_seconds
    FROM incident_facts f
    LEFT JOIN LATERAL (
        SELECT s.tier, s.queue FROM incident_stints s
        WHERE s.incident_id = f.incident_id AND s.started_at <= :at
          AND (s.ended_at IS NULL OR s.ended_at > :at)
        ORDER BY s.n DESC LIMIT 1
    ) cover ON true
    WHERE f.created_at <= :at AND (f.resolved_at IS NULL OR f.resolved_at > :at)
    GROUP BY GROUPING SETS ((), (cover.tier), (cover.queue), (f.priority))
    """
).bindparams(bindparam("at", type_=DateTime(timezone=True)))

# GROUPING(tier, queue, priority) of each grouping set: a bit is set for each column not grouped by
CUTS = {7: "total", 3: "tier", 5: "queue", 6: "priority"}


async def open_rows(session: AsyncSession, at: datetime) -> list[Row]:
    """Incidents open at ``at`` (created by then, not resolved by then): in all, per tier, queue and
    priority (tier and queue of the stint holding it at ``at``), with ageing buckets."""
    return [dict(row._mapping) for row in await session.execute(_OPEN_AT, {"at": at})]


def _flow_query(interval: str | None) -> Any:
    def bucket(column: str) -> str:
        return f"date_trunc('{interval}', {column}, 'UTC')" if interval else "CAST(NULL AS timestamptz)"

    if interval is not None and interval not in INTERVALS:
        raise ValueError(f"not an interval: {interval}")
    return text(
        f"""
        SELECT 'created' AS kind, {bucket("created_at")} AS bucket, count(*) AS n FROM incident_facts
        WHERE created_at >= :start AND created_at < :end GROUP BY 2
        UNION ALL
        SELECT 'resolved', {bucket("resolved_at")}, count(*) FROM incident_facts
        WHERE resolved_at >= :start AND resolved_at < :end GROUP BY 2
        UNION ALL
        SELECT 'open_at_start', CAST(NULL AS timestamptz), count(*) FROM incident_facts
        WHERE created_at < :start AND (resolved_at IS NULL OR resolved_at >= :start)
        """  # the only interpolation: a checked interval name
    ).bindparams(
        bindparam("start", type_=DateTime(timezone=True)), bindparam("end", type_=DateTime(timezone=True))
    )


async def flow_rows(session: AsyncSession, start: datetime, end: datetime, interval: str | None) -> list[Row]:
    """Created and resolved in [start, end) (per bucket with an interval), and open at ``start``."""
    result = await session.execute(_flow_query(interval), {"start": start, "end": end})
    return [dict(row._mapping) for row in result]
