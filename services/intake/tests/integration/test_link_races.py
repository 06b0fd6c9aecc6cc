"""Two uses of one link at the same moment, on the real PostgreSQL: exactly one acts.

The link's nonce is inserted with the action in one transaction; a second transaction inserting the
same nonce waits on the primary key until the first commits, then finds it taken and is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tierline_intake.adapters.orm import IncidentRow, TimelineEntry, UsedLink
from tierline_intake.service_layer import links
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.links import LinkClaim, LinkSigner
from tierline_shared.testing import eventually

pytestmark = pytest.mark.integration


async def test_a_link_used_twice_at_once_acts_once(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    signer = LinkSigner(["race-secret"])
    deps = dataclasses.replace(deps, links=signer)
    claim = LinkClaim.new("acknowledge", incident_id, "alice", now=deps.clock.now(), ttl=timedelta(hours=1))
    checked = links.check_token(deps, signer.sign(claim))

    async with sessions() as first, first.begin():
        await links.use_link(deps.unit_of_work(first), deps, checked)  # not committed yet

        async def second_use() -> None:
            async with sessions() as second, second.begin():
                await links.use_link(deps.unit_of_work(second), deps, checked)

        racer = asyncio.create_task(second_use())

        async def waiting_on_a_lock() -> bool:
            async with sessions() as probe:
                waiting = await probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            return bool(waiting)

        await eventually(waiting_on_a_lock, timeout=10, what="the second use waiting for the first")
    # the first committed: the second finds the nonce taken, and its transaction changes nothing
    with pytest.raises(links.LinkUsed):
        await racer

    async with sessions() as session:
        row = await session.get(IncidentRow, incident_id)
        assert row is not None and row.status == "acknowledged"
        acknowledgements = await session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id, TimelineEntry.kind == "acknowledged")
        )
        used = await session.scalar(select(func.count()).select_from(UsedLink))
    assert (acknowledgements, used) == (1, 1)
