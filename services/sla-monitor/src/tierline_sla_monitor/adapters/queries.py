"""Read-only questions about clocks, answered in SQL: the compliance report and the clocks armed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class ClockQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def outcomes(self, *, start: datetime, end: datetime, group_by: str) -> list[tuple[Any, ...]]:
        """Per group and kind, clocks started in [start, end): total, met, breached, open, cancelled,
        mean and p90 of the business time they took."""
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
        return [tuple(r) for r in await self.session.execute(stmt)]

    async def armed(self) -> dict[tuple[str, str], int]:
        """How many clocks are running or paused, by kind and state."""
        rows = await self.session.execute(
            select(ClockRow.kind, ClockRow.state, func.count())
            .where(ClockRow.state.in_(("running", "paused")))
            .group_by(ClockRow.kind, ClockRow.state)
        )
        return {(kind, state): count for kind, state, count in rows}
