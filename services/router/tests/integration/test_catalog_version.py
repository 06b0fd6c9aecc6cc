"""The routing catalog is built once per version and a change on any replica is seen at once.

Two engines on one database stand for two replicas; the catalog each process keeps is reused only
while the version row (bumped by triggers in the changing transaction) is the one it was built at.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tierline_router.adapters import catalog as catalog_adapter
from tierline_router.domain.model import Agent
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.errors import Conflict

pytestmark = pytest.mark.integration


async def _version(sessions: Any) -> Any:
    async with sessions() as session:
        return await session.scalar(text("SELECT version FROM catalog_version"))


async def _load(h: Any) -> Any:
    async with h.sessions() as session, session.begin():
        return await RouterUnitOfWork(session, h.deps.outbox).catalog.load()


async def test_built_once_per_version_and_changes_seen_on_the_next_transaction(harness) -> None:
    builds = catalog_adapter.CATALOG.built.builds
    first = await _load(harness)
    assert await _load(harness) is first  # same version: the kept catalog, no rows read
    assert catalog_adapter.CATALOG.built.builds <= builds + 1

    # another replica sets ann away: this one sees it on its next transaction
    await harness.run(admin.update_agent, Agent(name="ann", capacity=2, available=False))
    after = await _load(harness)
    assert after is not first and after.agents["ann"].available is False


async def test_a_rotation_turn_keeps_the_version_a_configuration_statement_changes_it(harness) -> None:
    before = await _version(harness.sessions)
    async with harness.sessions() as session, session.begin():
        await session.execute(text("UPDATE queues SET position = position + 1"))
    assert await _version(harness.sessions) == before
    async with harness.sessions() as session, session.begin():
        await session.execute(text("UPDATE queues SET spec = spec WHERE name = 'desk'"))
    assert await _version(harness.sessions) != before


async def test_a_refused_change_leaves_nothing_behind(harness) -> None:
    before = await _version(harness.sessions)
    kept = await _load(harness)
    with pytest.raises(Conflict):  # ann is in the desk queue
        async with harness.sessions() as session, session.begin():
            await admin.delete_agent(RouterUnitOfWork(session, harness.deps.outbox), "ann")
    assert await _version(harness.sessions) == before
    assert await _load(harness) is kept


async def test_the_kept_catalog_cannot_be_changed_in_place(harness) -> None:
    kept = await _load(harness)
    with pytest.raises(TypeError):
        kept.agents["zed"] = kept.agents["ann"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        kept.queues.append(kept.queues[0])  # type: ignore[attr-defined]
