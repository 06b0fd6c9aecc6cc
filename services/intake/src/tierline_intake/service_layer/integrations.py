"""Monitoring integrations: their keys, and turning their alerts into incident changes."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, IntegrationRow
from tierline_intake.domain.alerts import AlertSignal
from tierline_intake.domain.lifecycle import Status
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_intake.service_layer.incidents import (
    IntakeDeps,
    acknowledge_incident,
    create_incident,
    find_open_by_dedup_key,
    resolve_incident,
)
from tierline_shared.auth import hash_key
from tierline_shared.errors import NotFound, Unauthorized


async def create_integration(
    session: AsyncSession, deps: IntakeDeps, *, type_: str, name: str, service: str
) -> tuple[IntegrationRow, str]:
    """A new integration and its key (shown once; stored hashed). 32 hex chars, like PagerDuty's."""
    key = secrets.token_hex(16)
    row = IntegrationRow(
        id=uuid.uuid4(),
        type=type_,
        name=name,
        service=service,
        key_hash=hash_key(key),
        key_hint=key[-4:],
        created_at=deps.clock.now(),
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_integrations(session: AsyncSession) -> list[IntegrationRow]:
    return list(await session.scalars(select(IntegrationRow).order_by(IntegrationRow.created_at)))


async def revoke_integration(session: AsyncSession, deps: IntakeDeps, integration_id: uuid.UUID) -> None:
    row = await session.get(IntegrationRow, integration_id, with_for_update=True)
    if row is None:
        raise NotFound(f"No integration {integration_id}.")
    if row.revoked_at is None:
        row.revoked_at = deps.clock.now()


class UnknownIntegrationKey(Unauthorized):
    type_slug = "unknown-integration-key"
    title = "Unknown integration key"


async def integration_for_key(session: AsyncSession, key: str, type_: str) -> IntegrationRow:
    row = await session.scalar(
        select(IntegrationRow).where(
            IntegrationRow.key_hash == hash_key(key),
            IntegrationRow.revoked_at.is_(None),
            IntegrationRow.type == type_,
        )
    )
    if row is None:
        raise UnknownIntegrationKey(f"No active {type_} integration has this key.")
    return row


async def apply_signal(
    session: AsyncSession, deps: IntakeDeps, integration: IntegrationRow, signal: AlertSignal
) -> IncidentRow | None:
    """trigger creates (or counts an occurrence); acknowledge/resolve act on the open incident, if any."""
    if signal.action == "trigger":
        row, _ = await create_incident(
            session,
            deps,
            CreateIncident(
                title=signal.title,
                description=signal.description,
                service=signal.service,
                category=signal.category,
                channel="monitoring",
                reporter=signal.reporter,
                impact=signal.impact,
                urgency=signal.urgency,
                dedup_key=signal.dedup_key,
                integration_id=integration.id,
                details={"integration": integration.name, **signal.details},
            ),
        )
        return row
    row = await find_open_by_dedup_key(session, signal.dedup_key)
    if row is None:
        return None  # nothing open under this key: like PagerDuty, accept and ignore
    if signal.action == "acknowledge":
        if row.status == Status.OPEN.value:
            return await acknowledge_incident(session, deps, row.id, by=signal.reporter)
        return row
    return await resolve_incident(
        session,
        deps,
        row.id,
        ResolveIncident(
            by=signal.reporter, resolution_code="auto_resolved", note=signal.title, source="integration"
        ),
    )
