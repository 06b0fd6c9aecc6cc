"""Keep the reports' facts as new as the timeline: refresh the incidents queued as stale.

A trigger on ``timeline`` queues every incident a statement wrote lines for (and the migration
queued every incident once: the backfill). :func:`refresh_facts` takes a batch off the queue and
rewrites those incidents' facts from their row and whole timeline, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tierline_intake.domain.facts import Facts, FirstContactWindows, IncidentState, TimelineLine, derive
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.logging import get_logger

_log = get_logger(__name__)

LOCK = "intake-facts"


async def refresh_facts(uow: IntakeUnitOfWork, deps: IntakeDeps, *, limit: int) -> int:
    """Refresh the facts of up to ``limit`` queued incidents; how many incidents left the queue.

    Refreshers take turns (one advisory lock): a refresher that started later, and so read a
    newer timeline, never commits before an older one, so facts never go back in time. A queued
    id without an incident row (which cannot happen) is just dropped, and counted.
    """
    await uow.lock(LOCK)
    ids = await uow.facts.take_stale(limit)
    if not ids:
        return 0
    incidents = await uow.facts.incidents(ids)
    timelines = await uow.facts.timelines([incident.id for incident in incidents])
    now = deps.clock.now()
    derived = [_derive(i, timelines[i.id], deps.first_contact_windows, now) for i in incidents]
    await uow.facts.write([facts for facts in derived if facts is not None], now=now)
    return len(ids)


async def facts_pending(uow: IntakeUnitOfWork) -> int:
    """How many incidents wait for their facts to be refreshed."""
    return await uow.facts.pending()


def _derive(
    incident: IncidentState, lines: Sequence[TimelineLine], windows: FirstContactWindows, now: datetime
) -> Facts | None:
    """The incident's facts; None (logged) if its timeline cannot be read, so that one incident never
    holds up the queue behind it (its facts are refreshed again with its next line)."""
    try:
        return derive(incident, lines, windows, now=now)
    except Exception:  # noqa: BLE001 - one bad timeline costs only its own facts
        _log.exception("facts_not_derived", incident_id=str(incident.id))
        return None
