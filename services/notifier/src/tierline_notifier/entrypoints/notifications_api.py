"""The notification log: every message owed, to whom, by which channel, and what became of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tierline_notifier.adapters.orm import NotificationRow
from tierline_notifier.domain.directory import fingerprint
from tierline_notifier.service_layer import queries
from tierline_notifier.service_layer.unit_of_work import NotifierDeps
from tierline_shared.api import KEY_PROBLEMS, Reader, RuntimeDep

router = APIRouter(tags=["notifications"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such notification (problem+json)"},
    422: {"description": "Invalid input, naming the parameter (problem+json)"},
}
Status = Literal["pending", "sent", "dead", "cancelled", "skipped"]


class NotificationOut(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    event_id: uuid.UUID = Field(
        description="The event that owed it: one message per event, recipient and contact"
    )
    kind: str = Field(description="assigned, renotified, escalated, sla_warning, reporter_resolved …")
    role: str = Field(description="assignee, previous_assignee, lead, team or reporter")
    recipient: str = Field(description="A person, a queue (team channels) or the reporter's address")
    contact: str = Field(description="The contact's name; empty when skipped")
    channel: str | None = Field(description="email, slack, mattermost, teams, webhook or apprise")
    to: str | None = Field(description="The email address, or a chat URL's fingerprint (URLs hold tokens)")
    status: Status
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is due, while pending")
    error: str | None = Field(description="Why the last attempt failed, or why it was skipped or cancelled")
    created_at: datetime
    sent_at: datetime | None


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next (older) page; null at the end")


def _out(row: NotificationRow) -> NotificationOut:
    to = row.target if row.channel == "email" or row.target is None else fingerprint(row.target)
    return NotificationOut(
        id=row.id,
        incident_id=row.incident_id,
        event_id=row.event_id,
        kind=row.kind,
        role=row.role,
        recipient=row.recipient,
        contact=row.contact,
        channel=row.channel,
        to=to,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


@router.get(
    "/v1/notifications",
    response_model=NotificationPageOut,
    responses=PROBLEMS,
    summary="The notification log, newest first",
)
async def list_notifications(
    rt: RuntimeDep,
    principal: Reader,
    incident_id: Annotated[uuid.UUID | None, Query()] = None,
    person: Annotated[str | None, Query(max_length=320, description="The recipient")] = None,
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> NotificationPageOut:
    deps: NotifierDeps = rt.state["deps"]
    async with rt.sessions() as session:
        rows, next_cursor = await queries.notifications(
            deps.unit_of_work(session),
            incident_id=incident_id,
            recipient=person,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return NotificationPageOut(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/v1/notifications/{notification_id}",
    response_model=NotificationOut,
    responses=PROBLEMS,
    summary="One notification",
)
async def get_notification(notification_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> NotificationOut:
    deps: NotifierDeps = rt.state["deps"]
    async with rt.sessions() as session:
        return _out(await queries.notification(deps.unit_of_work(session), notification_id))
