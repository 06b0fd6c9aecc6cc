"""On-call schedules through the admin API: made, replaced, deleted, overridden, asked who is on call.

Each change runs under the routing lock, is checked against the whole configuration (the people a
schedule puts on call must be members of every queue naming it), announces ``ScheduleChanged``,
marks the schedule's watch row due (the shift-change worker looks at once) and hands waiting
incidents of the queues naming it to whoever is on call now. A refusal writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierline_router.adapters.schedules import StoredOverride
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Queue, stranger_in
from tierline_router.domain.schedules import (
    MAX_RANGE,
    CalendarLayer,
    InvalidSchedule,
    Override,
    Schedule,
    Shift,
    oncall,
    shifts,
    until,
)
from tierline_router.domain.schedules.spec import LayerSpec, OverrideSpec, ScheduleSpec
from tierline_router.service_layer import admin
from tierline_router.service_layer.feeds import whole_shifts
from tierline_router.service_layer.placement import hand_out_waiting
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.catalog.resource import Listed
from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import OncallShiftEnded, ScheduleChanged
from tierline_shared.events.routing import ScheduleChange
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
_INSTANT = timedelta(microseconds=1)


# --- reading ----------------------------------------------------------------------------------------


async def list_all(uow: RouterUnitOfWork) -> list[Listed[ScheduleSpec]]:
    return await uow.schedules.list_all()


async def get(uow: RouterUnitOfWork, name: str) -> Listed[ScheduleSpec]:
    return await uow.schedules.get(name)


async def schedule_of(uow: RouterUnitOfWork, name: str) -> Schedule:
    """The domain schedule with its overrides, as the catalog holds it; NotFound (404) naming it."""
    schedule = (await uow.catalog.load()).schedules.get(name)
    if schedule is None:
        raise NotFound(f"There is no schedule {name!r}.", schedule=name)
    return schedule


async def shifts_of(uow: RouterUnitOfWork, name: str, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts of schedule ``name`` in [start, end) (a bad range: InvalidSchedule naming ``to``)."""
    schedule = await schedule_of(uow, name)
    _check_range(start, end)
    return shifts(schedule, start, end)


async def exported_shifts_of(uow: RouterUnitOfWork, name: str, start: datetime, end: datetime) -> list[Shift]:
    """The shifts of schedule ``name`` overlapping [start, end), whole (``feeds.whole_shifts``)."""
    schedule = await schedule_of(uow, name)
    _check_range(start, end)
    return whole_shifts(schedule, start, end)


async def people_shifts(
    uow: RouterUnitOfWork, person: str, start: datetime, end: datetime
) -> list[tuple[str, Shift]]:
    """``person``'s shifts overlapping [start, end) across every schedule, with their whole bounds:
    (schedule name, shift), by start."""
    found = [
        (name, shift)
        for name, schedule in sorted((await uow.catalog.load()).schedules.items())
        for shift in whole_shifts(schedule, start, end)
        if shift.person == person
    ]
    return sorted(found, key=lambda pair: (pair[1].start, pair[0]))


@dataclass(frozen=True)
class OnCall:
    """Who a schedule has on call at ``at``, from which layer (or ``override``), and until when."""

    schedule: str
    at: datetime
    person: str | None
    layer: str | None
    until: datetime | None


def on_call(schedule: Schedule, at: datetime) -> OnCall:
    """``until``: the end of the person's shift, across adjacent shifts of theirs (None: none within
    the longest range, or nobody on call); found by the domain's ``until`` in growing windows."""
    person = oncall(schedule, at)
    if person is None:
        return OnCall(schedule.name, at, None, None, None)
    now = shifts(schedule, at, at + _INSTANT)  # the piece running at ``at`` names the layer
    layer = now[0].layer if now else None
    return OnCall(schedule.name, at, person, layer, until(schedule, at, person))


async def oncall_at(uow: RouterUnitOfWork, name: str, at: datetime) -> OnCall:
    return on_call(await schedule_of(uow, name), at)


@dataclass(frozen=True)
class QueueOnCall:
    queue: str
    schedule: str | None
    at: datetime
    person: str | None
    until: datetime | None
    available: bool | None  # the person's manual availability flag (None: nobody on call)


async def queue_oncall(uow: RouterUnitOfWork, queue_name: str, at: datetime) -> QueueOnCall:
    catalog = await uow.catalog.load()
    queue = catalog.queue(queue_name)
    if queue is None:
        raise NotFound(f"There is no queue {queue_name!r}.", queue=queue_name)
    schedule = catalog.schedules.get(queue.schedule) if queue.schedule is not None else None
    if schedule is None:
        return QueueOnCall(queue.name, None, at, None, None, None)
    answer = on_call(schedule, at)
    agent = catalog.agents.get(answer.person) if answer.person is not None else None
    available = None if answer.person is None else (agent is not None and agent.available)
    return QueueOnCall(queue.name, schedule.name, at, answer.person, answer.until, available)


async def list_overrides(
    uow: RouterUnitOfWork, name: str, start: datetime | None, end: datetime | None
) -> list[StoredOverride]:
    await uow.schedules.found(name, lock=False)
    if start is not None and end is not None:
        _check_range(start, end)
    return await uow.schedule_store.overrides(name, start, end)


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidSchedule("to", "must be after from")
    if end - start > MAX_RANGE:
        raise InvalidSchedule("to", f"a range spans at most {MAX_RANGE.days} days")


# --- changing ---------------------------------------------------------------------------------------


def check_queue(catalog: Catalog, queue: Queue, now: datetime) -> None:
    """The queue's schedule exists and puts on call only the queue's members (422 naming ``schedule``)."""
    if queue.schedule is None:
        return
    schedule = catalog.schedules.get(queue.schedule)
    if schedule is None:
        raise InvalidSchedule("schedule", f"there is no schedule {queue.schedule!r}; create it first")
    gap = stranger_in(schedule.layers, queue.agents)
    if gap is not None:
        raise InvalidSchedule(
            "schedule",
            f"{gap[1]!r} is on call in {schedule.name!r} ({gap[0]}) but not a member of this queue",
        )
    for override in schedule.overrides:
        if override.end > now and override.person not in queue.agents:
            raise InvalidSchedule(
                "schedule",
                f"{override.person!r} covers an override in {schedule.name!r}"
                " but is not a member of this queue",
            )


def _check_members(catalog: Catalog, schedule: Schedule) -> None:
    """Every person the schedule's layers put on call is in every queue naming it."""
    for queue in catalog.queues_naming(schedule.name):
        gap = stranger_in(schedule.layers, queue.agents)
        if gap is not None:
            raise InvalidSchedule(
                gap[0], f"{gap[1]!r} is not a member of queue {queue.name!r}, which names this schedule"
            )


def _check_person(catalog: Catalog, name: str, person: str) -> None:
    if person not in catalog.agents:
        raise InvalidSchedule("person", f"there is no agent {person!r}")
    for queue in catalog.queues_naming(name):
        if person not in queue.agents:
            raise InvalidSchedule(
                "person", f"{person!r} is not a member of queue {queue.name!r}, which names this schedule"
            )


def _check_events(catalog: Catalog, name: str, layer: CalendarLayer) -> None:
    """Every piece's person is in every queue naming the schedule; refusals name the piece as the
    file's event (``events.N.person``: an import numbers its pieces as its events, by start)."""
    for queue in catalog.queues_naming(name):
        for number, piece in enumerate(layer.shifts):
            if piece.person not in queue.agents:
                raise InvalidSchedule(
                    f"events.{number}.person",
                    f"{piece.person!r} is not a member of queue {queue.name!r}, which names this schedule",
                )


async def _overrides(uow: RouterUnitOfWork, name: str) -> list[Override]:
    return [o.to_domain() for o in await uow.schedule_store.overrides(name)]


async def _changed(uow: RouterUnitOfWork, deps: RouterDeps, name: str, change: ScheduleChange) -> None:
    """Announce the change, mark the schedule's watch due, hand out what waits in its queues."""
    now = deps.clock.now()
    await uow.schedule_store.watch_now(name, now)
    await uow.announce(ScheduleChanged(schedule=name, change=change, at=now))
    catalog = await admin.checked_catalog(uow)
    for queue in catalog.queues_naming(name):
        await hand_out_waiting(uow, deps, catalog, queue)
    _log.info("schedule_changed", schedule=name, change=change)


async def put(
    uow: RouterUnitOfWork, deps: RouterDeps, spec: ScheduleSpec
) -> tuple[Listed[ScheduleSpec], bool]:
    """Create or replace schedule ``spec.name``; (the stored schedule, whether it was created)."""
    await uow.lock_routing()
    row = await uow.schedules.repo.get(spec.name, lock=True)
    schedule = spec.to_domain(await _overrides(uow, spec.name) if row is not None else ())
    _check_members(await uow.catalog.load(), schedule)
    now = deps.clock.now()
    is_new = row is None
    if row is None:
        row = await uow.schedules.add(spec, now)
    else:
        await uow.schedules.replace(row, spec, now)
    await uow.flush()
    await _changed(uow, deps, spec.name, "created" if is_new else "updated")
    return uow.schedules.view(row), is_new


async def delete(uow: RouterUnitOfWork, deps: RouterDeps, name: str) -> None:
    """Remove a schedule no queue names (409 in-use listing them); its overrides go with it."""
    await uow.lock_routing()
    row = await uow.schedules.found(name)
    naming = [q.name for q in (await uow.catalog.load()).queues_naming(name)]
    if naming:
        raise admin.InUse(
            f"Schedule {name!r} is named by queues {', '.join(naming)}; take it out of them first.",
            queues=naming,
        )
    watched = await uow.schedule_store.watch(name)
    person = watched.person if watched is not None else None
    await uow.schedules.remove(row)
    await uow.schedule_store.unwatch(name)
    now = deps.clock.now()
    await uow.announce(ScheduleChanged(schedule=name, change="deleted", at=now))
    if person is not None:  # whoever was on call is not any more (no queue names it: none to tell)
        await uow.announce(OncallShiftEnded(schedule=name, person=person, queues=[], at=now))
    await uow.flush()
    _log.info("schedule_deleted", schedule=name, oncall_ended=person)


class ScheduleChangedMeanwhile(Conflict):
    type_slug = "schedule-changed"
    title = "The schedule changed while the file was read"


async def replace_layer(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    name: str,
    layer: CalendarLayer,
    *,
    timezone: str | None = None,
    from_file: bool = False,
) -> Schedule:
    """Put calendar ``layer`` in place of the layer of its name, or on top; the schedule as it now is.

    Checked and written in one transaction under the routing lock: a layer of that name that is
    a rotating one is refused (422 naming ``layer``); ``timezone`` (the zone the file was read in)
    must still be the schedule's (409 otherwise: import again). ``from_file``: the layer's pieces
    are a file's events in their order, and a person who is not a member of a queue naming the
    schedule is refused naming the event (``events.N.person``), not the stored layer's piece.
    """
    await uow.lock_routing()
    row = await uow.schedules.found(name)
    stored = uow.schedules.view(row).item
    if any(existing.name == layer.name and existing.shifts is None for existing in stored.layers):
        raise InvalidSchedule(
            "layer", f"{layer.name!r} is a rotating layer; an import fills only calendar layers"
        )
    if timezone is not None and stored.timezone != timezone:
        raise ScheduleChangedMeanwhile(
            f"Schedule {name!r} moved to time zone {stored.timezone} while the file was read in"
            f" {timezone}; import it again.",
            timezone=stored.timezone,
        )
    catalog = await uow.catalog.load()
    if from_file:
        _check_events(catalog, name, layer)
    spec = stored.with_layer(LayerSpec.of_calendar(layer))
    schedule = spec.to_domain(await _overrides(uow, name))
    _check_members(catalog, schedule)
    await uow.schedules.replace(row, spec, deps.clock.now())
    await uow.flush()
    await _changed(uow, deps, name, "imported")
    return await schedule_of(uow, name)


async def add_override(
    uow: RouterUnitOfWork, deps: RouterDeps, name: str, spec: OverrideSpec, created_by: str
) -> StoredOverride:
    """``spec.person`` covers a span of schedule ``name`` (a later override wins where they overlap)."""
    await uow.lock_routing()
    await uow.schedules.found(name)
    override = spec.to_domain()
    catalog = await uow.catalog.load()
    _check_person(catalog, name, spec.person)
    stored = StoredOverride(
        id=uuid.uuid4(),
        schedule=name,
        person=spec.person,
        start=override.start,
        end=override.end,
        note=spec.note,
        created_by=created_by,
        created_at=deps.clock.now(),
    )
    await uow.schedule_store.add_override(stored)
    await _changed(uow, deps, name, "overrides")
    return stored


async def delete_override(uow: RouterUnitOfWork, deps: RouterDeps, name: str, override_id: uuid.UUID) -> None:
    await uow.lock_routing()
    await uow.schedules.found(name)
    await uow.schedule_store.remove_override(name, override_id)
    await _changed(uow, deps, name, "overrides")
