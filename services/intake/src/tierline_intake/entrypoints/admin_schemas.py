"""HTTP schemas of intake's admin and problem APIs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tierline_shared.schemas import ApiModel

Scope = Literal["incidents:read", "incidents:write", "admin"]
Slug = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # as the router names its agents
PERSON = "The router's agent name the key's holder works as (the console's \"my work\"); null: none"


class ApiKeyIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "grafana", "scopes": ["incidents:read", "incidents:write"]},
                {"name": "bob's console", "scopes": ["incidents:write"], "person": "bob"},
            ]
        },
    )
    name: str = Field(min_length=1, max_length=120)
    scopes: list[Scope] = Field(min_length=1)
    person: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=AGENT_NAME, description=PERSON
    )


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    person: str | None = Field(default=None, description=PERSON)
    created_at: datetime
    revoked_at: datetime | None = None


class KeyHolderOut(BaseModel):
    """Who the calling key is."""

    id: uuid.UUID
    name: str
    scopes: list[str] = Field(description="As issued, sorted (admin implies every other scope)")
    person: str | None = Field(description=PERSON)


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown once, stored only as a hash")


class IntegrationIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"type": "alertmanager", "name": "prod-prometheus", "service": "payments"}]
        },
    )
    type: Literal["pagerduty", "alertmanager"]
    name: str = Field(min_length=1, max_length=120)
    service: str = Slug


class IntegrationOut(BaseModel):
    id: uuid.UUID
    type: str
    name: str
    service: str
    key_hint: str = Field(description="Last 4 characters of the key")
    created_at: datetime
    revoked_at: datetime | None = None
    endpoint: str = Field(description="Where the monitoring tool sends its events")


class IntegrationCreatedOut(IntegrationOut):
    key: str = Field(description="The PagerDuty routing_key / the Alertmanager path key: shown once")


class ProblemIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "VPN concentrator firmware leaks sessions",
                    "root_cause": "Firmware 9.2 bug",
                    "workaround": "Reboot nightly",
                    "known_error": True,
                }
            ]
        },
    )
    title: str = Field(min_length=1, max_length=200)
    root_cause: str | None = Field(default=None, max_length=20_000)
    workaround: str | None = Field(default=None, max_length=20_000)
    known_error: bool = False


class ProblemPatch(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"known_error": True, "workaround": "Pin firmware 9.1"}]},
    )
    title: str | None = Field(default=None, min_length=1, max_length=200)
    root_cause: str | None = Field(default=None, max_length=20_000)
    workaround: str | None = Field(default=None, max_length=20_000)
    known_error: bool | None = None
    status: Literal["open", "resolved"] | None = None


class ProblemLinkIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"incident_ids": ["3f1c2b7e-8a41-4c55-9d2e-6f1b0a9c7d11"]}]},
    )
    incident_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class _ProblemFields(BaseModel):
    id: uuid.UUID
    title: str
    root_cause: str | None
    workaround: str | None
    known_error: bool
    status: str = Field(description="open or resolved")
    created_at: datetime
    updated_at: datetime


class ProblemOut(_ProblemFields):
    incident_ids: list[uuid.UUID] = Field(description="The linked incidents, oldest first")


class ProblemListItemOut(_ProblemFields):
    incident_count: int = Field(description="How many incidents are linked (GET the problem for their ids)")


class ProblemPageOut(BaseModel):
    items: list[ProblemListItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
