"""The reports' answers as the API shows them: every field with its definition and source (HDI,
MetricNet, ITIL), which the OpenAPI document carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RATIO = "A ratio in 0..1; null when the denominator is 0."


def _f(text: str, **extra: Any) -> Any:
    return Field(description=text, **extra)


class EscalationRatesOut(BaseModel):
    """Escalation rate (HDI, MetricNet): per tier, incidents escalated up out of it ÷ incidents it held."""

    L1: float | None = _f(f"Escalated up out of L1 ÷ held by L1. {RATIO}")
    L2: float | None = _f(f"Escalated up out of L2 ÷ held by L2. {RATIO}")
    L3: float | None = _f(f"Escalated up out of L3 ÷ held by L3. {RATIO}")
    total: float | None = _f(f"Incidents escalated up at least once ÷ created. {RATIO}")


class CsatOut(BaseModel):
    """Customer satisfaction (HDI, MetricNet) from the CSAT surveys answered (scores 1..5)."""

    responses: int = _f("Incidents with a CSAT score.")
    average: float | None = _f("Mean CSAT score; null without responses.")
    good_ratio: float | None = _f(f"Scores of 4 or 5 ÷ responses. {RATIO}")


class SlaOut(BaseModel):
    """SLA compliance (ITIL service level management) from the SLA outcomes intake projects."""

    response_met_ratio: float | None = _f(f"Response clocks met ÷ (met + breached). {RATIO}")
    resolution_met_ratio: float | None = _f(f"Resolution clocks met ÷ (met + breached). {RATIO}")
    breached: int = _f("Incidents whose response or resolution clock breached.")


class VendorOut(BaseModel):
    """Vendor scorecard (ITIL supplier management) over the incidents handed to a vendor."""

    handed_off: int = _f("Cases handed to the vendor.")
    acknowledged: int = _f("Handed-off cases the vendor acknowledged.")
    resolved: int = _f("Handed-off cases the vendor resolved.")
    rejected: int = _f("Handed-off cases the vendor rejected.")
    failed: int = _f("Handoffs that never reached the vendor (delivery failed).")
    mtta_seconds: float | None = _f("Mean handoff → vendor acknowledgement, wall clock.")
    mttr_seconds: float | None = _f("Mean handoff → vendor resolution, wall clock.")
    response_met_ratio: float | None = _f(f"Vendor-contract response clocks met ÷ (met + breached). {RATIO}")
    resolution_met_ratio: float | None = _f(
        f"Vendor-contract resolution clocks met ÷ (met + breached). {RATIO}"
    )


class KpisOut(BaseModel):
    """The desk's KPIs over incidents created in the period (and in the group or interval)."""

    created: int = _f("Incidents created in the period.")
    resolved: int = _f("Of those, resolved or closed by the time of the query.")
    reopened: int = _f("Of those, reopened at least once.")
    flr: float | None = _f(
        f"First-level resolution (HDI): resolved without ever leaving L1 ÷ resolved. {RATIO}"
    )
    fcr: float | None = _f(
        "First-contact resolution (HDI, MetricNet): resolved never leaving L1, never reassigned, never "
        "reopened and within the first-contact window (15 min for phone/chat; 1 business hour of the "
        f"L1 calendar otherwise; configurable) ÷ resolved. {RATIO}"
    )
    escalation_rate: EscalationRatesOut
    mtta_seconds: float | None = _f("Mean time to acknowledge (ITIL): created → first acknowledgement.")
    mtta_p50_seconds: float | None = _f("Median created → first acknowledgement.")
    mtta_p90_seconds: float | None = _f("90th percentile created → first acknowledgement.")
    mttr_seconds: float | None = _f("Mean time to resolve (ITIL): created → resolution, wall clock.")
    mttr_p50_seconds: float | None = _f("Median created → resolution.")
    mttr_p90_seconds: float | None = _f("90th percentile created → resolution.")
    aht_seconds: float | None = _f(
        "Average handle time (MetricNet, HDI): mean time an agent held an incident, from assignment to "
        "resolution or escalation away, minus time on hold. Grouped by tier, queue or agent: the stints "
        "at that tier, queue or agent; otherwise every stint of the group's incidents."
    )
    reopen_rate: float | None = _f(
        f"Reopen rate (HDI): reopened ÷ incidents resolved at least once (resolved now or reopened). {RATIO}"
    )
    csat: CsatOut
    knowledge_link_rate: float | None = _f(
        f"Knowledge use (HDI, KCS): resolved with a knowledge article linked ÷ resolved. {RATIO}"
    )
    sla: SlaOut
    vendor: VendorOut | None = _f("The vendor scorecard; only with group_by=vendor.", default=None)


class GroupOut(KpisOut):
    key: str | None = _f(
        "The group's value. tier, queue, agent and vendor are where the incident is now, or was resolved "
        "(agent: who holds it, or held it last); null: none (e.g. never assigned)."
    )


class PointOut(BaseModel):
    start: datetime = _f("The interval's start (UTC), clipped to the period.")
    end: datetime = _f("The interval's end (exclusive), clipped to the period.")
    total: KpisOut
    groups: list[GroupOut]


class KpiReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Incidents created from this instant (inclusive).")
    to: datetime = _f("… until this one (exclusive).")
    group_by: str | None
    interval: str | None
    total: KpisOut
    groups: list[GroupOut] = _f("Per value of group_by, ordered by key (null last); empty without group_by.")
    series: list[PointOut] = _f("Per interval (UTC), with its own groups; empty without interval.")


class BucketsOut(BaseModel):
    """Backlog ageing (HDI): open incidents by age at the backlog's instant."""

    model_config = ConfigDict(populate_by_name=True)

    lt_10d: int = _f("Younger than 10 days.")
    d10_30: int = Field(alias="10d_30d", description="10 to 30 days old, both included.")
    gt_30d: int = _f("Older than 30 days.")


class AgeingOut(BaseModel):
    open: int = _f("Open at the instant: created by then and not resolved by then.")
    buckets: BucketsOut
    oldest_age_seconds: float | None = _f("Age of the oldest open incident; null if none is open.")


class BacklogGroupOut(AgeingOut):
    key: str | None = _f("tier and queue: of the stint holding the incident at the instant (null: none).")


class CompletionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="The period's start (inclusive).")
    to: datetime = _f("The period's end (exclusive).")
    open_at_start: int = _f("Open at the period's start.")
    created: int = _f("Created in the period.")
    resolved: int = _f("Resolved in the period (whenever created).")
    open_at_end: int = _f("open_at_start + created - resolved.")
    completion_rate: float | None = _f(
        f"Completion rate (HDI): resolved ÷ (open at start + created). {RATIO}"
    )


class BacklogReportOut(AgeingOut):
    at: datetime = _f("The instant of the backlog (default: now).")
    interval: str | None
    by_tier: list[BacklogGroupOut]
    by_queue: list[BacklogGroupOut]
    by_priority: list[BacklogGroupOut]
    completion: CompletionOut
    series: list[CompletionOut] = _f("The completion per interval (UTC); empty without interval.")
