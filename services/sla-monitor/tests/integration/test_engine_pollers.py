"""Kill-safety of the timer poller at the service layer: a claim that never commits is no announcement.

Every warning and breach must reach the outbox exactly once, whether a poller dies mid-batch or
two pollers race over the same due clocks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.events import SlaBreached, SlaWarning
from tierline_sla_monitor.service_layer import clocks, timers

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
WARNINGS = (0.75, 0.9)  # the P1 policy's
TARGETS = {"response": 15 * M, "resolution": 240 * M}  # P1, 24x7


class Crash(Exception):
    """The poller's process dies after claiming and handling its batch, before the commit."""


def announcements(events: list) -> Counter:
    """How often each (incident, clock, kind, threshold) was announced."""
    return Counter(
        (e.incident_id, e.clock, type(e).__name__, getattr(e, "threshold", None))
        for e in events
        if isinstance(e, SlaWarning | SlaBreached)
    )


def expected(started: datetime, target: timedelta, polls: list[datetime]) -> list[tuple[str, float | None]]:
    """What a clock announces polled at ``polls``: passed warnings in order, or straight the breach."""
    out: list[tuple[str, float | None]] = []
    warned = 0
    for now in polls:
        if now >= started + target:
            return [*out, ("SlaBreached", None)]
        while warned < len(WARNINGS) and now >= started + target * WARNINGS[warned]:
            out.append(("SlaWarning", WARNINGS[warned]))
            warned += 1
    return out


async def test_a_poller_that_dies_before_commit_leaves_its_clocks_due_for_the_next(harness) -> None:
    incidents = [await harness.create("P1", at=T0 - i * timedelta(seconds=90)) for i in range(6)]
    harness.at(T0 + 12 * M)  # responses at 12, 13.5, 15 .. 19.5 min of 15
    async with harness.sessions() as session:
        with pytest.raises(Crash):
            async with session.begin():
                assert (
                    await timers.fire_due_clocks(
                        clocks.SlaUnitOfWork(session, harness.deps.outbox), harness.deps, limit=100
                    )
                    == 6
                )
                # while the claim is held, another replica skips those rows rather than waiting for them
                assert await harness.run(timers.fire_due_clocks, harness.deps, limit=100) == 0
                raise Crash
    assert await harness.published(SlaWarning) == []
    assert await harness.published(SlaBreached) == []
    rows = [(await harness.clocks(i))["response"] for i in incidents]
    assert [(r.state, r.warned) for r in rows] == [("running", 0)] * 6

    assert await harness.fire() == 7  # i=0: 75 % only; i=1: 75 % then 90 %; i=2..5: the breach
    assert await harness.fire() == 0
    seen = announcements(await harness.published())
    assert set(seen.values()) == {1}
    assert sorted((clock, kind, threshold) for _, clock, kind, threshold in seen) == sorted(
        [("response", "SlaWarning", 0.75)] * 2
        + [("response", "SlaWarning", 0.9)]
        + [("response", "SlaBreached", None)] * 4
    )


async def test_a_crash_in_a_later_batch_keeps_what_earlier_batches_committed(harness) -> None:
    incidents = [uuid.uuid4() for _ in range(10)]
    for incident in incidents:
        await harness.run(
            clocks.restart_tier_clock, harness.deps, incident_id=incident, tier="L1", budget_seconds=60, at=T0
        )
    harness.at(T0 + 2 * M)
    assert await harness.run(timers.fire_due_clocks, harness.deps, limit=4) == 4
    async with harness.sessions() as session:
        with pytest.raises(Crash):
            async with session.begin():
                assert (
                    await timers.fire_due_clocks(
                        clocks.SlaUnitOfWork(session, harness.deps.outbox), harness.deps, limit=4
                    )
                    == 4
                )
                raise Crash
    assert len(await harness.published(SlaBreached)) == 4
    assert await harness.fire(limit=4) == 6
    breaches = await harness.published(SlaBreached)
    assert sorted(e.incident_id for e in breaches) == sorted(incidents)


async def test_two_pollers_over_300_clocks_announce_each_warning_and_breach_exactly_once(harness) -> None:
    starts = {await harness.create("P1", at=T0 - i * 2 * M): T0 - i * 2 * M for i in range(150)}
    polls = [T0, T0 + 5 * M, T0 + 20 * M, T0 + 2 * 60 * M]
    deps = harness.deps

    async def poller() -> int:
        total = 0
        while fired := await harness.run(timers.fire_due_clocks, deps, limit=13):
            total += fired
        return total

    handled = 0
    for moment in polls:
        harness.at(moment)
        handled += sum(await asyncio.gather(poller(), poller()))
        assert await harness.run(timers.fire_due_clocks, deps, limit=1000) == 0

    want = Counter(
        (incident, clock, kind, threshold)
        for incident, started in starts.items()
        for clock, target in TARGETS.items()
        for kind, threshold in expected(started, target, polls)
    )
    seen = announcements(await harness.published())
    assert handled == sum(want.values()) == sum(seen.values())
    assert seen == want  # every key once: no duplicates, nothing missing
    kinds = Counter((clock, kind, threshold) for _, clock, kind, threshold in seen)
    # the mix the scenario is meant to have: clocks at every stage, on both kinds
    assert kinds[("response", "SlaBreached", None)] > 100
    assert min(kinds[("resolution", k, t)] for k, t in [("SlaWarning", 0.75), ("SlaWarning", 0.9)]) > 10
    assert kinds[("resolution", "SlaBreached", None)] > 10
