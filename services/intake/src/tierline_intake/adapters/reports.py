"""The reports' SQL: KPI aggregates over ``incident_facts`` / ``incident_stints``, and the backlog.

Each report is a few set-wise queries whatever its groups and intervals. The counts aggregate the
rows once per (key, interval bucket), then ``GROUP BY CUBE`` over those few sums yields the total,
every group, every interval and every group of every interval (``GROUPING()`` tells a null key from
the rows over all keys); averages are sums over counts. Quantiles (exact, ``percentile_cont``) need
every value of each set, so they have their own query. The facts hold what the counts need as
plain columns (durations in seconds, tiers as bits, handle time summed): PostgreSQL computes most
of them itself (generated columns, see migration 0009). Counts come back raw; the service layer
divides the ratios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from tierline_intake.adapters.orm import TIER_BITS
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


def _filters(window: FactsWindow) -> list[ColumnElement[bool]]:
    conditions = []
    for name, values in window.filters.items():
        if name not in FILTERS:
            raise ValueError(f"not a report filter: {name}")
        if values:
            conditions.append(getattr(F, name).in_(list(values)))
    return conditions


def _where(window: FactsWindow) -> list[ColumnElement[bool]]:
    return [F.created_at >= window.start, F.created_at < window.end, *_filters(window)]


def _bucket(day: Any, interval: str | None) -> ColumnElement[Any] | None:
    """The start of the interval holding the UTC ``day`` (a timestamp without zone: UTC).

    Over the stored day, not the instant: grouping by a column's expression the planner estimates
    as few groups (it hashes), and a day is cheap to truncate.
    """
    if interval is None:
        return None
    if interval not in INTERVALS:
        raise ValueError(f"not an interval: {interval}")
    return func.date_trunc(literal_column(f"'{interval}'"), cast(day, DateTime()))


def _utc(bucket: Any) -> ColumnElement[datetime]:
    """A UTC timestamp without zone as the instant it is (timestamptz)."""
    return bucket.op("AT TIME ZONE")(literal_column("'UTC'")).cast(DateTime(timezone=True))


def _count(condition: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    return func.count().filter(condition) if condition is not None else func.count()


def _bit(mask: Any, tier: str) -> ColumnElement[bool]:
    return mask.op("&")(TIER_BITS[tier]) != 0


def _fine_columns(vendor: bool) -> list[ColumnElement[Any]]:
    """Per row: what the KPIs sum (counts, and sums with their counts for the means)."""
    resolved = F.resolve_seconds.is_not(None)  # resolved_at's: an earlier column (cheaper to reach)
    columns: list[ColumnElement[Any]] = [
        _count().label("created"),
        func.count(F.resolve_seconds).label("resolved"),
        _count(F.reopen_count > 0).label("reopened"),
        _count(or_(resolved, F.reopen_count > 0)).label("ever_resolved"),
        _count(and_(resolved, F.l1_only)).label("first_level"),
        _count(
            and_(resolved, F.l1_only, F.reassignments == 0, F.reopen_count == 0, F.first_contact.is_(True))
        ).label("first_contact"),
        _count(F.escalated_tiers != 0).label("escalated"),
    ]
    for tier in ESCALATING_TIERS:
        columns.append(_count(_bit(F.held_tiers, tier)).label(f"held_{tier}"))
        columns.append(
            _count(and_(_bit(F.held_tiers, tier), _bit(F.escalated_tiers, tier))).label(f"escalated_{tier}")
        )
    columns += [
        func.sum(F.ack_seconds).label("mtta_sum"),
        func.count(F.ack_seconds).label("mtta_n"),
        func.sum(F.resolve_seconds).label("mttr_sum"),
        func.sum(F.handled_seconds).label("aht_sum"),
        func.sum(F.handled_stints).label("aht_n"),
        func.count(F.csat_score).label("csat_responses"),
        func.sum(F.csat_score).label("csat_sum"),
        _count(F.csat_score >= 4).label("csat_good"),
        _count(and_(resolved, F.knowledge_linked)).label("knowledge_linked"),
        _count(F.response_met.is_(True)).label("response_met"),
        _count(F.response_met.is_(False)).label("response_missed"),
        _count(F.resolution_met.is_(True)).label("resolution_met"),
        _count(F.resolution_met.is_(False)).label("resolution_missed"),
        _count(F.breached.is_(True)).label("breached"),
    ]
    if vendor:
        handed = F.vendor_handoff_at.is_not(None)
        columns += [
            _count(handed).label("vendor_handed_off"),
            func.count(F.vendor_ack_seconds).label("vendor_acknowledged"),  # acknowledged after a handoff
            func.count(F.vendor_resolve_seconds).label("vendor_resolved"),
            _count(and_(handed, F.vendor_rejected)).label("vendor_rejected"),
            _count(and_(handed, F.vendor_failed)).label("vendor_failed"),
            func.sum(F.vendor_ack_seconds).label("vendor_mtta_sum"),
            func.sum(F.vendor_resolve_seconds).label("vendor_mttr_sum"),
            _count(and_(handed, F.vendor_response_met.is_(True))).label("vendor_response_met"),
            _count(and_(handed, F.vendor_response_met.is_(False))).label("vendor_response_missed"),
            _count(and_(handed, F.vendor_resolution_met.is_(True))).label("vendor_resolution_met"),
            _count(and_(handed, F.vendor_resolution_met.is_(False))).label("vendor_resolution_missed"),
        ]
    return columns


# (mean, its sum, its count) of the fine rows
_MEANS = (
    ("mtta_avg", "mtta_sum", "mtta_n"),
    ("mttr_avg", "mttr_sum", "resolved"),
    ("aht", "aht_sum", "aht_n"),
    ("csat_average", "csat_sum", "csat_responses"),
)
_VENDOR_MEANS = (
    ("vendor_mtta", "vendor_mtta_sum", "vendor_acknowledged"),
    ("vendor_mttr", "vendor_mttr_sum", "vendor_resolved"),
)
_SUMS = frozenset(total for means in (_MEANS, _VENDOR_MEANS) for _, total, _ in means)


def _head(key: Any | None, bucket: Any | None) -> list[ColumnElement[Any]]:
    """Which cell a row is: key (``all_keys`` 1: over every key) and bucket (``all_buckets``)."""
    return [
        (key if key is not None else null()).label("key"),
        (func.grouping(key) if key is not None else literal(1)).label("all_keys"),
        (_utc(bucket) if bucket is not None else null()).label("bucket"),
        (func.grouping(bucket) if bucket is not None else literal(1)).label("all_buckets"),
    ]


def _cube(query: Select[Any], key: Any | None, bucket: Any | None) -> Select[Any]:
    dims = [d for d in (key, bucket) if d is not None]
    return query.group_by(func.cube(*dims)) if dims else query


async def kpi_rows(
    session: AsyncSession, window: FactsWindow, group_by: str | None, interval: str | None
) -> list[Row]:
    """Counts and means of the facts, per (key, bucket), per key, per bucket and in all.

    The rows are aggregated once per (key, bucket); CUBE then adds up those few sums.
    """
    vendor = group_by == "vendor"
    fine_key = getattr(F, group_by).label("key") if group_by else None
    fine_bucket = _bucket(F.created_day, interval)
    if fine_bucket is not None:
        fine_bucket = fine_bucket.label("bucket")
    fine_dims = [d for d in (fine_key, fine_bucket) if d is not None]
    fine = select(*fine_dims, *_fine_columns(vendor)).where(*_where(window))
    if fine_dims:
        fine = fine.group_by(*fine_dims)
    cte = fine.cte("fine")
    key = cte.c.key if group_by else None
    bucket = cte.c.bucket if interval else None
    sums: list[ColumnElement[Any]] = [
        cast(func.coalesce(func.sum(column), 0), BigInteger).label(column.name)  # no rows: 0
        for column in cte.c
        if column.name not in ("key", "bucket", *_SUMS)
    ]
    means = [
        (cast(func.sum(cte.c[total]), Float) / cast(func.nullif(func.sum(cte.c[n]), 0), Float)).label(mean)
        for mean, total, n in (*_MEANS, *(_VENDOR_MEANS if vendor else ()))
    ]
    query = _cube(select(*_head(key, bucket), *sums, *means).select_from(cte), key, bucket)
    return [dict(row._mapping) for row in await session.execute(query)]


async def spread_rows(
    session: AsyncSession, window: FactsWindow, group_by: str | None, interval: str | None
) -> list[Row]:
    """What needs each cell's rows, not just their sums, cut like ``kpi_rows``: SELECTs joined by
    UNION ALL, which PostgreSQL runs side by side (Parallel Append), each row saying its ``source``:

    - 'mtta' and 'mttr': p50 and p90 (``q``) of time to acknowledge and to resolve over every value
      of the cell, one SELECT (one sort per grouping set, both fractions from it) per duration;
    - 'stints', grouped by tier, queue or agent only: ``aht`` of the stints at that tier, queue or
      agent, per key and per key and bucket (the other cells' AHT comes with ``kpi_rows``: the facts
      sum their own stints' handle times). The stints carry their incident's creation: one range
      scan, joined to the facts only to filter.
    """
    key = getattr(F, group_by) if group_by else None
    bucket = _bucket(F.created_day, interval)
    branches = [
        _cube(
            select(
                literal(source).label("source"), *_head(key, bucket), _quantiles(value).label("q"), _NO_AHT
            ).where(*_where(window), value.is_not(None)),
            key,
            bucket,
        )
        for source, value in (("mtta", F.ack_seconds), ("mttr", F.resolve_seconds))
    ]
    if group_by in STINT_DIMENSIONS:
        key, bucket = getattr(S, group_by), _bucket(S.created_day, interval)
        stints = (
            select(
                literal("stints").label("source"),
                *_head(key, bucket),
                _NO_Q,
                func.avg(S.handle_seconds).label("aht"),
            )
            .where(S.created_at >= window.start, S.created_at < window.end, S.handle_seconds.is_not(None))
            .group_by(func.grouping_sets(key, tuple_(key, bucket)) if bucket is not None else key)
        )
        filters = _filters(window)
        if filters:
            stints = stints.join(F, F.incident_id == S.incident_id).where(*filters)
        branches.append(stints)
    return [dict(row._mapping) for row in await session.execute(union_all(*branches))]


_NO_AHT = cast(null(), Float).label("aht")
_NO_Q = cast(null(), ARRAY(Float)).label("q")


def _quantiles(value: Any) -> ColumnElement[Any]:
    """p50 and p90 from one sort (percentile_cont of an array of fractions)."""
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(value)


async def roomy_sorts(session: AsyncSession) -> None:
    """Let this transaction's sorts and hashes stay in memory (a report's are a few MB)."""
    await session.execute(text("SET LOCAL work_mem = '32MB'"))


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
