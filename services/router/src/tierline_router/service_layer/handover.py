"""Shift changes: when a schedule's on-call person changes, say so and hand the work over.

The router's timer loop runs ``watch_shifts``. Like every routing use case it first takes the
routing lock, and only then locks rows: the due ``schedule_watch`` rows (``SKIP LOCKED``). A
second replica passing at the same instant waits for the lock, then finds the rows no longer due;
one it claims anyway still names the person already seen, so it only moves ``check_at``. Each
change is announced once (``OncallShiftEnded`` / ``OncallShiftStarted``), and per queue naming
the schedule its ``handover`` policy says what happens to the outgoing person's incidents:
``reassign`` gives them to the incoming person (``shift_change``; waiting in the queue when the
incoming cannot take them), ``keep`` leaves them. When nobody comes on shift (a gap: office hours
are over), ``reassign`` leaves them too, as ``keep`` does: held work is never torn away to wait
for nobody; whoever comes on shift next takes what members off call still hold in the queue.
Then what waits in the queue is handed out.

The events' ``at`` is the instant the on-call person changed: the boundary the row was due at
(or the latest boundary since, when the look came late), not when the loop happened to pass.

``reconcile_queue`` does the same for a queue whose schedule or policy changed (the admin API
or the policy file): a ``reassign`` queue's held work goes to whoever is on call now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tierline_router import metrics
from tierline_router.adapters.schedules import Watched
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Queue
from tierline_router.domain.schedules import MAX_RANGE, Schedule, Shift, oncall, shifts
from tierline_router.service_layer.placement import hand_out_freed, hand_out_waiting, reassign_held
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import Event, OncallShiftEnded, OncallShiftStarted
from tierline_shared.logging import get_logger

_log = get_logger(__name__)

IDLE_CHECK = timedelta(days=1)  # no boundary within the longest range: look again tomorrow
RETRY = timedelta(minutes=1)  # a schedule whose look failed is tried again after this
_JUST_AFTER = timedelta(seconds=1)
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

    def moving(self) -> list[Queue]:
        """The queues whose held work moves now: ``reassign`` ones, when someone comes on shift.
        With nobody incoming (a gap), held work stays with the outgoing person, as under ``keep``;
        when someone comes on shift after a gap, what members off call still hold goes to them."""
        if self.incoming is None:
            return []
        return [q for q in self.queues if q.handover == "reassign"]


def change_of(
    catalog: Catalog, schedule: Schedule, seen: str | None, now: datetime, due: datetime | None = None
) -> ShiftChange | None:
    """The change from ``seen`` to whoever ``schedule`` has on call at ``now``; None when the same.

    ``due``: when the watch row was due; the change is dated at the last instant in [due, now]
    where the on-call person became who they are now (``due`` itself when it is before them all).
    """
    person = oncall(schedule, now)
    if person == seen:
        return None
    at = now if due is None else changed_at(schedule, person, due, now)
    return ShiftChange(schedule.name, seen, person, tuple(catalog.queues_naming(schedule.name)), at)


def changed_at(schedule: Schedule, person: str | None, due: datetime, now: datetime) -> datetime:
    """The last instant in [due, now] from which ``schedule`` has had ``person`` on call (None:
    nobody) without a break; ``due`` when that began before it."""
    since = max(due, now - MAX_RANGE + _JUST_AFTER)
    if since >= now:
        return now
    pieces: list[Shift] = shifts(schedule, since, now + _JUST_AFTER)
    if person is None:  # nobody since the end of the last piece (all pieces end by now)
        return max((p.end for p in pieces if p.end <= now), default=since)
    covering = [p for p in pieces if p.start <= now < p.end]
    if not covering:
        return now
    start = covering[0].start
    for piece in reversed(pieces):  # adjacent pieces of the same person (other layers) go back further
        if piece.end == start and piece.person == person:
            start = piece.start
    return start


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
    change = change_of(catalog, schedule, watched.person, now, watched.check_at)
    if change is None:
        await uow.schedule_store.seen(Watched(schedule.name, watched.person, watched.since, check_at))
        return
    await uow.schedule_store.seen(Watched(schedule.name, change.incoming, change.at, check_at))
    await hand_over(uow, deps, catalog, change)


async def hand_over(uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, change: ShiftChange) -> None:
    """Announce the change, apply each queue's handover policy, hand out what waits in its queues."""
    for event in change.announcements():
        await uow.announce(event)
    moved = 0
    freed: set[str] = set()
    moving = {q.name for q in change.moving()}
    for queue in change.queues:
        if change.incoming is not None and queue.name in moving:
            count, gone = await _to_oncall(uow, deps, catalog, queue, change.incoming)
            moved, freed = moved + count, freed | gone
        await hand_out_waiting(uow, deps, catalog, queue)
    for person in sorted(freed):
        await hand_out_freed(uow, deps, catalog, person)  # room again in their other queues

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


def is_reconciled(queue: Queue, before: Queue | None) -> bool:
    """Whether a change from ``before`` (None: a new queue) to ``queue`` must be reconciled with
    the schedule: it gains a schedule, changes schedule, or switches its handover to reassign."""
    if queue.schedule is None:
        return False
    return (
        before is None
        or before.schedule != queue.schedule
        or (before.handover != "reassign" and queue.handover == "reassign")
    )


async def reconcile_queue(
    uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, queue: Queue, before: Queue | None
) -> int:
    """After ``queue`` changed from ``before``: when it gained a schedule, changed schedule or
    switched to ``reassign``, its schedule is looked at again at once and, under ``reassign``,
    incidents held in the queue by members not on call now go to the one who is (``shift_change``,
    as at a handover; nobody on call: they stay). Then what waits in it is handed out. Returns how
    many incidents moved."""
    if not is_reconciled(queue, before) or queue.schedule is None:
        return 0
    now = deps.clock.now()
    await uow.schedule_store.watch_now(queue.schedule, now)
    person = catalog.oncall(queue, now)
    moved, freed = 0, set[str]()
    if queue.handover == "reassign" and person is not None:
        moved, freed = await _to_oncall(uow, deps, catalog, queue, person)
    await hand_out_waiting(uow, deps, catalog, queue)
    for member in sorted(freed):
        await hand_out_freed(uow, deps, catalog, member)
    _log.info(
        "queue_schedule_reconciled",
        queue=queue.name,
        schedule=queue.schedule,
        handover=queue.handover,
        oncall=person,
        reassigned=moved,
    )
    return moved


async def _to_oncall(
    uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, queue: Queue, person: str
) -> tuple[int, set[str]]:
    """Incidents held in ``queue`` by members other than ``person`` (on call now) go to them
    (``shift_change``; waiting when they cannot take them): (how many moved, who gave some up)."""
    moved, freed = 0, set[str]()
    for member in queue.agents:
        if member != person:
            count = await reassign_held(uow, deps, catalog, member, queue.name, reason="shift_change")
            moved += count
            if count:
                freed.add(member)
    return moved, freed
