"""The compliance report: how clocks started in a window ended, grouped the way a support lead asks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_sla_monitor.adapters.orm import ClockRow
from tierline_sla_monitor.domain.policy import OPEN_STATES, ClockState

GROUP_COLUMNS = {
    "priority": ClockRow.priority,
    "tier": ClockRow.tier,
    "service": ClockRow.service,
    "vendor": ClockRow.vendor,
}


class ClockStats(BaseModel):
    total: int
    met: int
    breached: int
    open: int = Field(description="Still running or paused")
    cancelled: int
    met_percent: float | None = Field(description="met / (met + breached); None before any clock ended")
    mean_seconds: float | None = Field(description="Mean business time to the acknowledgement or resolution")
    p90_seconds: float | None = Field(description="90th percentile of the same")


class GroupOut(BaseModel):
    group: str
    clocks: dict[str, ClockStats] = Field(description="By clock kind: response, resolution, tier, vendor_...")


async def report(session: AsyncSession, *, start: datetime, end: datetime, group_by: str) -> list[GroupOut]:
    group = GROUP_COLUMNS[group_by]
    finished = ClockRow.finished_seconds
    stmt = (
        select(
            group,
            ClockRow.kind,
            func.count(),
            func.count().filter(ClockRow.state == ClockState.MET.value),
            func.count().filter(ClockRow.state == ClockState.BREACHED.value),
            func.count().filter(ClockRow.state.in_(OPEN_STATES)),
            func.count().filter(ClockRow.state == ClockState.CANCELLED.value),
            func.avg(finished),
            func.percentile_cont(0.9).within_group(finished),
        )
        .where(ClockRow.started_at >= start, ClockRow.started_at < end, group.is_not(None))
        .group_by(group, ClockRow.kind)
        .order_by(group, ClockRow.kind)
    )
    groups: dict[str, dict[str, ClockStats]] = {}
    for name, kind, total, met, breached, still_open, cancelled, mean, p90 in await session.execute(stmt):
        ended = met + breached
        groups.setdefault(name, {})[kind] = ClockStats(
            total=total,
            met=met,
            breached=breached,
            open=still_open,
            cancelled=cancelled,
            met_percent=round(100.0 * met / ended, 2) if ended else None,
            mean_seconds=float(mean) if mean is not None else None,
            p90_seconds=float(p90) if p90 is not None else None,
        )
    return [GroupOut(group=name, clocks=clocks) for name, clocks in groups.items()]
