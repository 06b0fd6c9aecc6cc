"""Shift changes: when a schedule's on-call person changes, say so and hand the work over.

The router's timer loop runs ``watch_shifts``. Like every routing use case it first takes the
routing lock, and only then locks rows: the due ``schedule_watch`` rows (``SKIP LOCKED``). A
second replica passing at the same instant waits for the lock, then finds the rows no longer due;
one it claims anyway still names the person already seen, so it only moves ``check_at``. Each
change is announced once (``OncallShiftEnded`` / ``OncallShiftStarted``), and per queue naming
the schedule its ``handover`` policy says what happens to the outgoing person's incidents:
``reassign`` gives them to the incoming person (``shift_change``; waiting in the queue when the
incoming cannot take them), ``keep`` leaves them. Then what waits in the queue is handed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tierline_router import metrics
from tierline_router.adapters.schedules import Watched
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Queue
from tierline_router.domain.schedules import MAX_RANGE, Schedule, oncall, shifts
from tierline_router.service_layer.placement import hand_out_freed, hand_out_waiting, reassign_held
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import Event, OncallShiftEnded, OncallShiftStarted
from tierline_shared.logging import get_logger

_log = get_logger(__name__)

IDLE_CHECK = timedelta(days=1)  # no boundary within the longest range: look again tomorrow
RETRY = timedelta(minutes=1)  # a schedule whose look failed is tried again after this
# growing windows: most schedules change within a day, so the 400-day one is rarely painted
WINDOWS = (timedelta(days=1), timedelta(days=31), MAX_RANGE)


def next_check(schedule: Schedule, now: datetime) -> datetime:
    """The first shift start or end after ``now`` within ``MAX_RANGE``; none: ``now + IDLE_CHECK``."""
    for window in WINDOWS:
        horizon = now + window
        for shift in shifts(schedule, now, horizon):
            for boundary in (shift.start, shift.end):
                if now < boundary < horizon:  # the horizon itself only clips the range
                    return boundary
    return now + IDLE_CHECK


@dataclass(frozen=True)
class ShiftChange:
    """``outgoing`` went off call in ``schedule`` and ``incoming`` on (None: nobody) at ``at``."""

    schedule: str
    outgoing: str | None
    incoming: str | None
    queues: tuple[Queue, ...]  # the queues naming the schedule
    at: datetime

    @property
    def queue_names(self) -> list[str]:
        return [q.name for q in self.queues]

    def announcements(self) -> list[Event]:
        """The shift that ended (if someone was on call), then the one that started (if someone is)."""
        found: list[Event] = []
        if self.outgoing is not None:
            found.append(
                OncallShiftEnded(
                    schedule=self.schedule, person=self.outgoing, queues=self.queue_names, at=self.at
                )
            )
        if self.incoming is not None:
            found.append(
                OncallShiftStarted(
                    schedule=self.schedule, person=self.incoming, queues=self.queue_names, at=self.at
                )
            )
        return found

    def reassigning(self) -> list[Queue]:
        """The queues whose outgoing person's incidents go to the incoming one (``reassign``)."""
        if self.outgoing is None:
            return []
        return [q for q in self.queues if q.handover == "reassign"]


def change_of(catalog: Catalog, schedule: Schedule, seen: str | None, now: datetime) -> ShiftChange | None:
    """The change from ``seen`` to whoever ``schedule`` has on call at ``now``; None when the same."""
    person = oncall(schedule, now)
    if person == seen:
        return None
    return ShiftChange(schedule.name, seen, person, tuple(catalog.queues_naming(schedule.name)), now)


async def watch_shifts(uow: RouterUnitOfWork, deps: RouterDeps, *, limit: int) -> int:
    """Look at up to ``limit`` due schedules; returns how many were looked at."""
    await uow.lock_routing()
    now = deps.clock.now()
    due = await uow.schedule_store.claim_due(now, limit)
    if not due:
        return 0
    catalog = await uow.catalog.load()
    for watched in due:
        schedule = catalog.schedules.get(watched.schedule)
        if schedule is None:  # deleted since (its row normally goes with it)
            await uow.schedule_store.unwatch(watched.schedule)
            continue
        try:
            async with uow.savepoint():
                await _look(uow, deps, catalog, schedule, watched, now)
        except Exception:  # noqa: BLE001 - one broken schedule must not stop every other handover
            _log.exception(
                "shift_watch_failed", schedule=watched.schedule, retry_at=(now + RETRY).isoformat()
            )
            await uow.schedule_store.seen(
                Watched(watched.schedule, watched.person, watched.since, now + RETRY)
            )
    return len(due)


async def _look(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    catalog: Catalog,
    schedule: Schedule,
    watched: Watched,
    now: datetime,
) -> None:
    check_at = next_check(schedule, now)
    change = change_of(catalog, schedule, watched.person, now)
    if change is None:
        await uow.schedule_store.seen(Watched(schedule.name, watched.person, watched.since, check_at))
        return
    await uow.schedule_store.seen(Watched(schedule.name, change.incoming, now, check_at))
    await hand_over(uow, deps, catalog, change)


async def hand_over(uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, change: ShiftChange) -> None:
    """Announce the change, apply each queue's handover policy, hand out what waits in its queues."""
    for event in change.announcements():
        await uow.announce(event)
    moved = 0
    reassigning = {q.name for q in change.reassigning()}
    for queue in change.queues:
        if change.outgoing is not None and queue.name in reassigning:
            moved += await reassign_held(
                uow, deps, catalog, change.outgoing, queue.name, reason="shift_change"
            )
        await hand_out_waiting(uow, deps, catalog, queue)
    if change.outgoing is not None and moved:
        await hand_out_freed(uow, deps, catalog, change.outgoing)  # room again in their other queues

    def record() -> None:
        metrics.shift_changed(change.schedule)
        _log.info(
            "shift_changed",
            schedule=change.schedule,
            outgoing=change.outgoing,
            incoming=change.incoming,
            queues=change.queue_names,
            reassigned=moved,
            at=change.at.isoformat(),
        )

    uow.after_commit(record)
