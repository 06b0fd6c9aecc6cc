"""The reports' read model: the queue of incidents with stale facts, and their facts and stints.

Read and written in the caller's transaction (the refresher's); never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import FactsStale, IncidentFacts, IncidentRow, IncidentStint, TimelineEntry
from tierline_intake.domain.facts import Facts, IncidentState, Stint, TimelineLine

_FACTS = IncidentFacts.metadata.tables["incident_facts"]
_STINTS = IncidentStint.metadata.tables["incident_stints"]
_STALE = FactsStale.metadata.tables["incident_facts_stale"]
_STATE_COLUMNS = tuple(
    getattr(IncidentRow, name)
    for name in (
        "id",
        "created_at",
        "service",
        "category",
        "priority",
        "channel",
        "type",
        "status",
        "tier",
        "queue",
        "assignee",
        "vendor",
        "resolved_at",
        "reopen_count",
        "csat_score",
        "knowledge_article_used",
    )
)
_FACT_COLUMNS = tuple(c.name for c in _FACTS.columns if c.name != "refreshed_at" and c.computed is None)
# Core statements built once (compiled once); many rows go as one executemany, which SQLAlchemy
# sends as multi-row INSERTs within asyncpg's parameter limit
_INSERT_FACTS = insert(_FACTS)
_UPSERT_FACTS = _INSERT_FACTS.on_conflict_do_update(
    index_elements=[_FACTS.c.incident_id],
    set_={
        c.name: _INSERT_FACTS.excluded[c.name]
        for c in _FACTS.columns
        if c.name != "incident_id" and c.computed is None  # PostgreSQL computes the generated ones
    },
)
_INSERT_STINTS = insert(_STINTS)
_STINT_FIELDS = tuple(f.name for f in fields(Stint))  # not asdict: it deep-copies every value


class FactsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take_stale(self, limit: int) -> list[uuid.UUID]:
        """Take up to ``limit`` queued rows, oldest first, off the queue: their incidents, each once.

        Rows another transaction holds are skipped (``SKIP LOCKED``); the rows are deleted in this
        transaction, so a rollback puts them back.
        """
        taken = (
            select(_STALE.c.seq).order_by(_STALE.c.seq).limit(limit).with_for_update(skip_locked=True)
        ).scalar_subquery()
        ids = await self.session.scalars(
            delete(_STALE).where(_STALE.c.seq.in_(taken)).returning(_STALE.c.incident_id)
        )
        return list(dict.fromkeys(ids))

    async def pending(self) -> int:
        """How many incidents wait on the queue."""
        count = await self.session.scalar(select(func.count(func.distinct(_STALE.c.incident_id))))
        return int(count or 0)

    async def incidents(self, ids: Sequence[uuid.UUID]) -> list[IncidentState]:
        """The incidents among ``ids`` as their rows say now (an id without a row is left out)."""
        rows = await self.session.execute(select(*_STATE_COLUMNS).where(IncidentRow.id.in_(ids)))
        return [IncidentState(**row._asdict()) for row in rows]

    async def timelines(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TimelineLine]]:
        """Every line of the incidents' timelines, in order, per incident."""
        rows = await self.session.execute(
            select(
                TimelineEntry.incident_id,
                TimelineEntry.kind,
                TimelineEntry.at,
                TimelineEntry.seq,
                TimelineEntry.data,
            )
            .where(TimelineEntry.incident_id.in_(ids))
            .order_by(TimelineEntry.at, TimelineEntry.seq)
        )
        lines: dict[uuid.UUID, list[TimelineLine]] = {incident_id: [] for incident_id in ids}
        for incident_id, kind, at, seq, data in rows:
            lines[incident_id].append(TimelineLine(kind=kind, at=at, seq=seq, data=dict(data or {})))
        return lines

    async def write(self, facts: Sequence[Facts], *, now: datetime) -> None:
        """Upsert the incidents' facts and replace their stints with ``facts``' own."""
        if not facts:
            return
        await self.session.execute(_UPSERT_FACTS, [_fact_row(f, now) for f in facts])
        await self.session.execute(
            delete(_STINTS).where(_STINTS.c.incident_id.in_([f.incident_id for f in facts]))
        )
        stints = [
            {
                "incident_id": f.incident_id,
                "created_at": f.created_at,
                **{n: getattr(stint, n) for n in _STINT_FIELDS},
            }
            for f in facts
            for stint in f.stints
        ]
        if stints:
            await self.session.execute(_INSERT_STINTS, stints)


def _fact_row(facts: Facts, now: datetime) -> dict[str, Any]:
    return {**{name: getattr(facts, name) for name in _FACT_COLUMNS}, "refreshed_at": now}
