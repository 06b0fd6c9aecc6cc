"""Intake's HTTP schemas (separate from the event contracts and the tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.schemas import ApiModel

Level = Literal["high", "medium", "low"]
Priority = Literal["P1", "P2", "P3", "P4"]
Channel = Literal["web", "email", "chat", "phone", "monitoring", "api"]
IncidentType = Literal["incident", "service_request"]
TYPE_DESCRIPTION = (
    "incident (something broke, the default) or service_request (something asked for that L1"
    " fulfils: a password reset, access, an account change); SLA policies may match on it"
)

Text200 = Field(min_length=1, max_length=200)
# service, category, product and customer names
SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Name = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


class IncidentIn(ApiModel):
    """A new incident. Give impact and urgency (priority is derived), or an explicit priority."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "VPN down for the sales team",
                    "description": "Nobody in sales can connect since 09:10.",
                    "service": "vpn",
                    "category": "network",
                    "product": "globalprotect",
                    "customer": "acme-corp",
                    "impact": "high",
                    "urgency": "high",
                    "channel": "web",
                    "reporter": "alice@example.com",
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    service: str = Field(min_length=1, max_length=120, pattern=SLUG)
    category: str = Field(min_length=1, max_length=120, pattern=SLUG)
    product: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        pattern=SLUG,
        description="The product within the service, when the reporter knows it",
    )
    customer: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        pattern=SLUG,
        description="The customer affected, as SLA policies name it; set at creation only",
    )
    impact: Level | None = None
    urgency: Level | None = None
    priority: Priority | None = None
    channel: Channel
    reporter: str = Field(min_length=1, max_length=320)
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    type: IncidentType = Field(default="incident", description=TYPE_DESCRIPTION)

    @model_validator(mode="after")
    def _impact_and_urgency_together(self) -> IncidentIn:
        if self.priority is None and (self.impact is None) != (self.urgency is None):
            missing = "urgency" if self.urgency is None else "impact"
            raise ValueError(f"{missing} is required with {'impact' if missing == 'urgency' else 'urgency'}")
        return self


class AcknowledgeIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"by": "bob@example.com"}]})
    by: str | None = Field(default=None, min_length=1, max_length=320)


class ResolveIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "by": "bob@example.com",
                    "resolution_code": "fixed",
                    "note": "Restarted the VPN concentrator",
                    "knowledge_article": "https://kb.example.com/runbooks/vpn",
                }
            ]
        },
    )
    by: str | None = Field(default=None, min_length=1, max_length=320)
    resolution_code: str | None = Field(default=None, min_length=1, max_length=80)
    note: str | None = Field(default=None, max_length=20_000)
    knowledge_article: str | None = Field(
        default=None, min_length=1, max_length=500, description="The knowledge-base article that solved it"
    )


class HoldIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "awaiting_customer", "note": "Asked for a screenshot", "by": "bob@example.com"}
            ]
        },
    )
    reason: Literal["awaiting_customer", "awaiting_vendor", "awaiting_change"]
    note: str | None = Field(default=None, max_length=5000)
    by: str | None = Field(default=None, min_length=1, max_length=320)


class ActorIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"by": "bob@example.com"}]})
    by: str | None = Field(default=None, min_length=1, max_length=320)


class ReopenIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Tunnels dropping again", "by": "alice@example.com"}]},
    )
    reason: str | None = Field(default=None, max_length=5000)
    by: str | None = Field(default=None, min_length=1, max_length=320)


class NoteIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "Vendor confirmed a firmware bug", "author": "carol@example.com"}]
        },
    )
    text: str = Field(min_length=1, max_length=20_000)
    author: str | None = Field(default=None, min_length=1, max_length=320)


class CsatIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 5, "comment": "Quick and friendly"}]}
    )
    score: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy)")
    comment: str | None = Field(default=None, max_length=5000)


# Optional on the incident itself, so an edit may take it away again.
CLEARABLE = frozenset({"product"})


class IncidentPatch(ApiModel):
    """Fields to change; omitted fields stay as they are. A priority change re-routes and re-times."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"impact": "high", "urgency": "high"}]}
    )

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    service: str | None = Field(default=None, min_length=1, max_length=120, pattern=SLUG)
    category: str | None = Field(default=None, min_length=1, max_length=120, pattern=SLUG)
    product: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        pattern=SLUG,
        description="null removes the product (the only field that may be cleared)",
    )
    impact: Level | None = None
    urgency: Level | None = None
    priority: Priority | None = None
    type: IncidentType | None = Field(default=None, description=TYPE_DESCRIPTION)
    by: str | None = Field(default=None, min_length=1, max_length=320, description="Who made the change")

    @field_validator("type")
    @classmethod
    def _a_type_is_never_null(cls, value: str | None) -> str | None:
        if value is None:  # named here, so the 422 names the field
            raise ValueError("type cannot be null; send incident or service_request")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> IncidentPatch:
        sent = self.model_fields_set - {"by"}
        if not sent:
            raise ValueError("send at least one field to change")
        nulls = sorted(name for name in sent - CLEARABLE if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self


class SlaClockOut(BaseModel):
    """One SLA clock as the SLA monitor last reported it, its time left as of the request."""

    state: Literal["running", "paused", "met", "breached", "cancelled"]
    due_at: datetime | None = Field(
        description="When it breaches if it keeps running. Null while paused: the due time moves by the"
        " length of the pause and is known again on resume; see remaining_seconds meanwhile. Also null"
        " for a clock that stopped while paused."
    )
    remaining_seconds: float | None = Field(
        default=None,
        description="Seconds left before it breaches, never below 0. Running: until due_at, as of this"
        " answer (a countdown; on a business-hours calendar it includes the closed hours the SLA monitor"
        " does not count). Paused: the business time left when it paused, frozen. Met: what was left"
        " when it stopped. Breached: 0. Cancelled: null.",
    )
    warning_threshold: float | None = Field(
        default=None,
        description="Share of the target used when the latest warning was sent (e.g. 0.75); null if none",
    )
    last_warning: bool = Field(
        default=False, description="The latest warning was the policy's last before the breach"
    )
    breached: bool = Field(
        description="The SLA monitor announced the breach. A running clock past due_at shows"
        " remaining_seconds 0 and turns breached when the announcement arrives"
    )
    breached_at: datetime | None = None
    met_at: datetime | None = None
    tier: str | None = Field(default=None, description="The tier whose budget a tier clock counts")


class TimelineItemOut(BaseModel):
    at: datetime
    kind: str
    summary: str
    source: str
    data: dict[str, Any]


class KnowledgeLinkOut(BaseModel):
    title: str
    url: str


class ProblemRefOut(BaseModel):
    id: uuid.UUID
    title: str
    known_error: bool
    workaround: str | None


Status = Literal["open", "acknowledged", "on_hold", "resolved", "closed"]


class SlaSummaryOut(BaseModel):
    """The incident's nearest response or resolution clock, for a board's countdown."""

    clock: Literal["response", "resolution"]
    due_at: datetime | None = Field(
        description="When it breaches (breached: when it did); null while paused (see remaining_seconds)"
    )
    remaining_seconds: float | None = Field(
        description="As in the incident's sla: seconds left as of this answer, never below 0 (running:"
        " until due_at; paused: frozen; breached: 0). Past due, due_at says by how much"
    )
    warning_threshold: float | None = Field(
        description="Share of the target used when its latest warning was sent (e.g. 0.75); null if none"
    )
    last_warning: bool = Field(description="That warning was the policy's last before the breach")
    breached: bool = Field(description="The SLA monitor announced its breach")
    paused: bool = Field(description="On hold: it does not count down until resumed")


class IncidentSummaryOut(BaseModel):
    id: uuid.UUID
    title: str
    service: str
    category: str
    product: str | None
    customer: str | None
    priority: Priority
    type: IncidentType
    channel: Channel
    status: Status
    tier: str | None
    queue: str | None
    assignee: str | None
    waiting_since: datetime | None = Field(
        description="Open in a queue and held by nobody: since it was left there (its latest assignment"
        " or escalation); null while an agent or a vendor holds it, before routing, and once resolved"
    )
    vendor: str | None
    occurrences: int
    created_at: datetime
    updated_at: datetime
    sla: SlaSummaryOut | None = Field(
        description="The nearest running or paused response/resolution clock (a breached one while its"
        " work is undone: the response until acknowledged, the resolution until resolved); null if none"
    )


class IncidentPageOut(BaseModel):
    items: list[IncidentSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class IncidentOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    service: str
    category: str
    product: str | None
    customer: str | None
    impact: Level | None
    urgency: Level | None
    priority: Priority
    priority_source: Literal["matrix", "explicit"]
    type: IncidentType = Field(description=TYPE_DESCRIPTION)
    channel: Channel
    reporter: str
    dedup_key: str | None
    occurrences: int
    last_seen_at: datetime | None
    status: Status
    hold_reason: str | None
    tier: str | None
    queue: str | None
    assignee: str | None
    vendor: str | None
    vendor_reference: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_code: str | None
    reopen_count: int
    csat_score: int | None
    knowledge: list[KnowledgeLinkOut]
    knowledge_article_used: str | None
    problem: ProblemRefOut | None
    details: dict[str, Any]
    sla: dict[str, SlaClockOut] = Field(
        description="Clocks by kind: response, resolution, tier, vendor_response, vendor_resolution"
        " (each only once started)"
    )
    timeline: list[TimelineItemOut]
