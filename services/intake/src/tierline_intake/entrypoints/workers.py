"""Intake's background loops: the reports' facts kept as new as the timeline; the SMTP receiver and
the IMAP fetcher."""

from __future__ import annotations

import asyncio
import time

from tierline_intake.mail import imap, smtp
from tierline_intake.service_layer import facts
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)

BATCH = 500  # incidents' stale rows a transaction takes
IDLE_SECONDS = 0.5  # the pause once the queue is empty
PROGRESS_SECONDS = 5.0  # at most one progress line this often while a backlog drains


async def serve_mail(rt: Runtime) -> None:
    """The SMTP receiver on TIERLINE_MAIL_LISTEN (only started when that is set)."""
    await smtp.serve(rt)


async def fetch_mail(rt: Runtime) -> None:
    """The IMAP fetcher of TIERLINE_IMAP_HOST (only started when that is set)."""
    await imap.serve(rt)


async def refresh_batch(rt: Runtime, *, limit: int) -> int:
    """Refresh one batch in its own transaction; how many incidents left the stale queue."""
    deps: IntakeDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        return await facts.refresh_facts(deps.unit_of_work(session), deps, limit=limit)


async def catch_up_facts(rt: Runtime, *, budget_seconds: float = 5.0) -> int:
    """Refresh batch after batch until the stale queue is empty or ``budget_seconds`` are spent.

    Each batch commits on its own; the budget is checked between batches (a batch under way
    finishes). Returns how many incidents were refreshed. For a report to read exact facts.
    """
    deadline = time.monotonic() + budget_seconds
    refreshed = 0
    while True:
        done = await refresh_batch(rt, limit=BATCH)
        refreshed += done
        if done == 0 or time.monotonic() >= deadline:
            return refreshed


async def refresh_facts_loop(rt: Runtime) -> None:
    """Refresh stale facts for ever: straight on while there is a queue, a short pause once it is empty.

    A large backlog (the migration's backfill, a burst of events) logs ``facts_backfill`` with how
    many incidents are done and how many remain, at most every PROGRESS_SECONDS.
    """
    progress = _Progress(rt)
    while True:
        done = await refresh_batch(rt, limit=BATCH)
        if done:
            await progress.advance(done)
        else:
            progress.finish()
            await asyncio.sleep(IDLE_SECONDS)


class _Progress:
    """Counts one backlog's refreshes and logs them now and then, and once more when it is drained."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._done = 0
        self._since = 0.0
        self._logged_at: float | None = None

    async def advance(self, done: int) -> None:
        now = time.monotonic()
        if self._done == 0:
            self._since = now
        self._done += done
        if now - (self._logged_at or self._since) < PROGRESS_SECONDS:
            return
        deps: IntakeDeps = self._rt.state["deps"]
        async with self._rt.sessions() as session:
            remaining = await facts.facts_pending(deps.unit_of_work(session))
        _log.info("facts_backfill", done=self._done, remaining=remaining, seconds=round(now - self._since, 1))
        self._logged_at = now

    def finish(self) -> None:
        if self._logged_at is not None:
            seconds = round(time.monotonic() - self._since, 1)
            _log.info("facts_backfill", done=self._done, remaining=0, seconds=seconds)
        self._done = 0
        self._logged_at = None
