"""Schedules as the policy file and the API write them, and their conversion to the domain ``Schedule``.

Pydantic checks the shape (types, required fields); ``ScheduleSpec.to_domain`` checks the meaning
(a known time zone, HH:MM clocks, rotations, weekdays, a layer either rotating or imported) and
raises ``InvalidSchedule`` naming the dotted field (``layers.0.handoff``), like the domain's
``validate`` does for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tierline_router.domain.schedules.model import (
    MAX_CALENDAR_SHIFTS,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    instant,
    parse_clock,
    parse_days,
    parse_rotation,
    parse_zone,
    validate,
    validate_override,
)

ScheduleName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Person = Annotated[str, Field(min_length=1, max_length=100)]
Clock = Annotated[str, Field(max_length=5, description="Local time of day, HH:MM (24:00: end of day)")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RestrictionSpec(_Strict):
    """A span of local time starting on each of ``days``; an end at or before the start is the next day."""

    days: list[str] = Field(description="Weekdays the span starts on: mon … sun", max_length=7)
    start: Clock
    end: Clock


class ShiftSpec(_Strict):
    """One explicit piece of on-call time (an imported calendar layer's)."""

    person: Person
    start: AwareDatetime
    end: AwareDatetime


class LayerSpec(_Strict):
    """Either a rotation (members, rotation, handoff, start, optional restrictions) or ``shifts``."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    members: list[Person] | None = Field(default=None, description="In rotation order", max_length=1000)
    rotation: str | None = Field(default=None, description="daily, weekly, 'every N hours', 'every N days'")
    handoff: Clock | None = Field(default=None, description="Local time the turn changes, HH:MM")
    start: date | None = Field(default=None, description="Local date of the first member's first turn")
    restrictions: list[RestrictionSpec] = Field(default_factory=list, max_length=100)
    shifts: list[ShiftSpec] | None = Field(
        default=None, description="An imported calendar layer's pieces", max_length=MAX_CALENDAR_SHIFTS
    )

    def to_domain(self, where: str) -> Layer | CalendarLayer:
        rotating = {key: getattr(self, key) for key in ("members", "rotation", "handoff", "start")} | {
            "restrictions": self.restrictions or None
        }
        if self.shifts is not None:
            given = [key for key, value in rotating.items() if value is not None]
            if given:
                raise InvalidSchedule(where, f"a layer has shifts or {given[0]}, never both")
            return CalendarLayer(
                self.name, tuple(Shift(s.person, s.start, s.end, self.name) for s in self.shifts)
            )
        members, rotation, handoff, start = self.members, self.rotation, self.handoff, self.start
        if members is None or rotation is None or handoff is None or start is None:
            missing = next(key for key, value in rotating.items() if value is None)
            raise InvalidSchedule(f"{where}.{missing}", "a rotating layer needs it (or give shifts instead)")
        restrictions = tuple(
            Restriction(
                days=parse_days(r.days, f"{where}.restrictions.{n}.days"),
                start=parse_clock(r.start, f"{where}.restrictions.{n}.start"),
                end=parse_clock(r.end, f"{where}.restrictions.{n}.end", end_of_day=True),
            )
            for n, r in enumerate(self.restrictions)
        )
        return Layer(
            name=self.name,
            members=tuple(members),
            rotation=parse_rotation(rotation, f"{where}.rotation"),
            handoff=parse_clock(handoff, f"{where}.handoff"),
            start=start,
            restrictions=restrictions,
        )

    @classmethod
    def of_calendar(cls, layer: CalendarLayer) -> LayerSpec:
        return cls(
            name=layer.name,
            shifts=[ShiftSpec(person=s.person, start=s.start, end=s.end) for s in layer.shifts],
        )


class ScheduleFields(_Strict):
    """A schedule but its name: a time zone and layers in rising precedence."""

    timezone: str = Field(description="IANA time zone the layers' local times are read in", max_length=100)
    layers: list[LayerSpec] = Field(description="Rising precedence: a later layer wins", max_length=50)


class ScheduleSpec(ScheduleFields):
    """A named schedule, as the policy file's ``schedules:`` lists them."""

    name: ScheduleName

    def to_domain(self, overrides: Sequence[Override] = ()) -> Schedule:
        """The domain schedule (with ``overrides``); InvalidSchedule naming the first bad field."""
        zone = parse_zone(self.timezone, "timezone")
        layers = tuple(layer.to_domain(f"layers.{n}") for n, layer in enumerate(self.layers))
        return validate(Schedule(self.name, zone, layers, tuple(overrides)))

    def stored(self) -> dict[str, object]:
        """What the ``spec`` column keeps (all but the name)."""
        return self.model_dump(mode="json", exclude={"name"}, exclude_none=True, exclude_defaults=True)

    def with_layer(self, layer: LayerSpec) -> ScheduleSpec:
        """This schedule with ``layer`` in place of the layer of that name, or on top when new."""
        names = [existing.name for existing in self.layers]
        if layer.name in names:
            layers = [layer if existing.name == layer.name else existing for existing in self.layers]
        else:
            layers = [*self.layers, layer]
        return self.model_copy(update={"layers": layers})


class OverrideSpec(_Strict):
    """``person`` covers [start, end) whoever the layers say; a later override wins over an earlier one."""

    person: Person
    start: AwareDatetime
    end: AwareDatetime
    note: str | None = Field(default=None, max_length=500)

    def to_domain(self) -> Override:
        """The override in UTC; InvalidSchedule naming ``start``, ``end`` or ``person`` (the years
        are checked before converting, so year 1 or 9999 is a refusal, not an overflow)."""
        validate_override(Override(self.person, self.start, self.end), "")
        return Override(self.person, instant(self.start, "start"), instant(self.end, "end"))
