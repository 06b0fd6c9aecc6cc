"""The compliance report: how clocks started in a window ended, grouped the way a support lead asks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


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


async def compliance_report(
    uow: SlaUnitOfWork, *, start: datetime, end: datetime, group_by: str
) -> list[GroupOut]:
    return _groups(await uow.queries.outcomes(start=start, end=end, group_by=group_by))


def _groups(rows: Iterable[tuple[Any, ...]]) -> list[GroupOut]:
    groups: dict[str, dict[str, ClockStats]] = {}
    for name, kind, total, met, breached, still_open, cancelled, mean, p90 in rows:
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
