"""The notification log as people read it."""

from __future__ import annotations

import uuid

from tierline_notifier.adapters.orm import NotificationRow
from tierline_notifier.service_layer.unit_of_work import NotifierUnitOfWork


async def notifications(
    uow: NotifierUnitOfWork,
    *,
    incident_id: uuid.UUID | None,
    recipient: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[NotificationRow], str | None]:
    """One page of the log, newest first, filtered by incident, recipient and status."""
    where = []
    if incident_id is not None:
        where.append(NotificationRow.incident_id == incident_id)
    if recipient is not None:
        where.append(NotificationRow.recipient == recipient)
    if status is not None:
        where.append(NotificationRow.status == status)
    return await uow.notifications.page(where, limit=limit, cursor=cursor)


async def notification(uow: NotifierUnitOfWork, notification_id: uuid.UUID) -> NotificationRow:
    return await uow.notifications.get_or_404(notification_id)


async def queue_depth(uow: NotifierUnitOfWork) -> dict[str, int]:
    return await uow.notifications.counts()
