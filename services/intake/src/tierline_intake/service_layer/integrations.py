"""Monitoring integrations: their keys, and turning their alerts into incident changes."""

from __future__ import annotations

import secrets
import uuid

from tierline_intake.adapters.orm import IntegrationRow
from tierline_intake.domain.alerts import AlertSignal
from tierline_intake.domain.incident import Happened, Incident
from tierline_intake.domain.lifecycle import Status
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_intake.service_layer.incidents import (
    IntakeDeps,
    acknowledge_incident,
    create_incident,
    new_incident,
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
        created, _ = await create_incident(uow, deps, _trigger(integration, signal))
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


def _trigger(integration: Integration, signal: AlertSignal) -> CreateIncident:
    return CreateIncident(
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
    )


async def apply_signals(
    uow: IntakeUnitOfWork, deps: IntakeDeps, integration: Integration, signals: list[AlertSignal]
) -> list[uuid.UUID]:
    """Apply a webhook's signals in order, as :func:`apply_signal` would one by one; the incidents
    touched, in order of first touch. A run of triggers is written set-based (one SELECT for
    their dedup keys, one INSERT per table); acknowledge and resolve go one by one."""
    touched: dict[uuid.UUID, None] = {}
    run: list[AlertSignal] = []
    for signal in [*signals, None]:
        if signal is not None and signal.action == "trigger" and signal.dedup_key:
            run.append(signal)
            continue
        if run:
            touched.update(dict.fromkeys(await _triggers(uow, deps, integration, run)))
            run = []
        if signal is not None:
            incident = await apply_signal(uow, deps, integration, signal)
            if incident is not None:
                touched[incident.id] = None
    return list(touched)


async def _triggers(
    uow: IntakeUnitOfWork, deps: IntakeDeps, integration: Integration, signals: list[AlertSignal]
) -> list[uuid.UUID]:
    """Triggers, set-based: an open incident with the dedup key counts an occurrence, else one is
    created (further triggers of its key in the batch count occurrences of it)."""
    await uow.flush()  # lines staged before keep their place on the timelines
    now = deps.clock.now()
    open_ = await uow.incidents.open_with_dedup_keys(list(dict.fromkeys(s.dedup_key for s in signals)))
    fresh: dict[str, Incident] = {}
    lines: list[tuple[Incident, Happened]] = []
    for signal in signals:
        cmd = _trigger(integration, signal)
        incident = open_.get(signal.dedup_key) or fresh.get(signal.dedup_key)
        if incident is None:
            incident = fresh[signal.dedup_key] = new_incident(deps, cmd, now=now)
            lines.append((incident, incident.created()))
        else:
            happened = incident.record_occurrence(
                channel=cmd.channel, reporter=cmd.reporter, title=cmd.title, now=now
            )
            lines.append((incident, happened))
    stored = await uow.incidents.add_new(list(fresh.values()))
    lost = {incident.id for incident in fresh.values() if incident.id not in stored}
    for incident in open_.values():
        uow.incidents.save(incident)
    await uow.record_many([(i, happened) for i, happened in lines if i.id not in lost])
    touched = [incident.id for incident, _ in lines if incident.id not in lost]
    for signal in signals:  # a concurrent report took the key meanwhile: one by one, as apply_signal
        if fresh.get(signal.dedup_key) is not None and fresh[signal.dedup_key].id in lost:
            touched.append((await create_incident(uow, deps, _trigger(integration, signal)))[0].id)
    return touched
