"""Monitoring integrations: their keys, and turning their alerts into incident changes."""

from __future__ import annotations

import secrets
import uuid

from tierline_intake.adapters.orm import IntegrationRow
from tierline_intake.domain.alerts import AlertSignal
from tierline_intake.domain.incident import Incident
from tierline_intake.domain.lifecycle import Status
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_intake.service_layer.incidents import (
    IntakeDeps,
    acknowledge_incident,
    create_incident,
    resolve_incident,
)
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.auth import hash_key
from tierline_shared.errors import NotFound, Unauthorized

Integration = IntegrationRow  # a monitoring integration as stored (its key only hashed)


async def create_integration(
    uow: IntakeUnitOfWork, deps: IntakeDeps, *, type_: str, name: str, service: str
) -> tuple[Integration, str]:
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
    uow.integrations.add(row)
    await uow.flush()
    return row, key


async def list_integrations(uow: IntakeUnitOfWork) -> list[Integration]:
    return await uow.integrations.all()


async def revoke_integration(uow: IntakeUnitOfWork, deps: IntakeDeps, integration_id: uuid.UUID) -> None:
    row = await uow.integrations.get(integration_id, lock=True)
    if row is None:
        raise NotFound(f"No integration {integration_id}.")
    if row.revoked_at is None:
        row.revoked_at = deps.clock.now()


class UnknownIntegrationKey(Unauthorized):
    type_slug = "unknown-integration-key"
    title = "Unknown integration key"


async def integration_for_key(uow: IntakeUnitOfWork, key: str, type_: str) -> Integration:
    row = await uow.integrations.active_with_key(hash_key(key), type_)
    if row is None:
        raise UnknownIntegrationKey(f"No active {type_} integration has this key.")
    return row


async def apply_signal(
    uow: IntakeUnitOfWork, deps: IntakeDeps, integration: Integration, signal: AlertSignal
) -> Incident | None:
    """trigger creates (or counts an occurrence); acknowledge/resolve act on the open incident, if any."""
    if signal.action == "trigger":
        created, _ = await create_incident(
            uow,
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
        return created
    incident = await uow.incidents.open_with_dedup_key(signal.dedup_key)
    if incident is None:
        return None  # nothing open under this key: like PagerDuty, accept and ignore
    if signal.action == "acknowledge":
        if incident.status == Status.OPEN:
            return await acknowledge_incident(uow, deps, incident.id, by=signal.reporter)
        return incident
    return await resolve_incident(
        uow,
        deps,
        incident.id,
        ResolveIncident(
            by=signal.reporter, resolution_code="auto_resolved", note=signal.title, source="integration"
        ),
    )
