"""The shift-change worker's pure decisions: when to look again, and what a change announces and moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Queue
from tierline_router.domain.schedules import (
    CalendarLayer,
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    oncall,
)
from tierline_router.service_layer.handover import IDLE_CHECK, change_of, next_check
from tierline_shared.events import OncallShiftEnded, OncallShiftStarted

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday, 11:00 in Berlin: ann's week
WEEKLY = Layer("weekly", ("ann", "bob"), Rotation.weekly(), time(9), date(2026, 1, 5))
OFFICE = Layer(
    "office",
    ("cat", "dan"),
    Rotation.daily(),
    time(9),
    date(2026, 12, 7),
    (Restriction(frozenset(range(5)), time(9), time(17)),),
)


def _z(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _weekly(*overrides: Override) -> Schedule:
    return Schedule("desk-week", BERLIN, (WEEKLY,), overrides)


def _catalog(schedule: Schedule) -> Catalog:
    queues = [
        Queue(name="desk", tier="L1", agents=["ann", "bob"], schedule=schedule.name),
        Queue(name="other", tier="L1", agents=["ann", "bob"]),
        Queue(name="ops", tier="L1", agents=["ann", "bob"], schedule=schedule.name, handover="reassign"),
    ]
    return Catalog(agents={}, queues=queues, policies=[], schedules={schedule.name: schedule})


# -- when to look again -----------------------------------------------------------------------


def test_a_weekly_rotation_is_looked_at_again_at_its_next_handoff() -> None:
    assert next_check(_weekly(), T0) == _z(2026, 12, 14, 8)  # Monday 09:00 CET
    # at the handoff instant itself the next one counts, a week on
    assert next_check(_weekly(), _z(2026, 12, 14, 8)) == _z(2026, 12, 21, 8)


def test_an_override_brings_the_next_look_to_its_start_then_its_end() -> None:
    cover = Override("bob", _z(2026, 12, 9, 12), _z(2026, 12, 9, 18))
    assert next_check(_weekly(cover), T0) == cover.start
    assert next_check(_weekly(cover), cover.start) == cover.end
    assert next_check(_weekly(cover), cover.end) == _z(2026, 12, 14, 8)


def test_restrictions_make_boundaries_at_the_end_of_the_day_and_the_next_start() -> None:
    office = Schedule("office", BERLIN, (OFFICE,))
    friday_noon = _z(2026, 12, 11, 11)
    assert next_check(office, friday_noon) == _z(2026, 12, 11, 16)  # 17:00 in Berlin
    # from Friday evening nobody is on call until Monday 09:00
    assert next_check(office, _z(2026, 12, 11, 16, 30)) == _z(2026, 12, 14, 8)


def test_a_daily_handoff_on_the_spring_dst_day_is_looked_at_when_it_really_happens() -> None:
    nights = Schedule(
        "nights", BERLIN, (Layer("days", ("cat", "dan"), Rotation.daily(), time(2, 30), date(2026, 3, 1)),)
    )
    # 02:30 does not exist on 29 March 2026: the handoff is at 03:00 CEST, 01:00 UTC
    assert next_check(nights, _z(2026, 3, 28, 12)) == _z(2026, 3, 29, 1)


def test_a_boundary_months_ahead_is_found_and_none_at_all_means_tomorrow() -> None:
    far = _z(2027, 6, 1)
    holidays = CalendarLayer("holidays", (Shift("bob", far, far + timedelta(days=3), "holidays"),))
    schedule = Schedule("rare", BERLIN, (holidays,))
    assert next_check(schedule, T0) == far  # beyond the 1- and 31-day windows
    assert next_check(schedule, far) == far + timedelta(days=3)
    assert next_check(schedule, far + timedelta(days=3)) == far + timedelta(days=3) + IDLE_CHECK
    beyond = Schedule(
        "beyond", BERLIN, (CalendarLayer("x", (Shift("bob", _z(2028, 6, 1), _z(2028, 6, 2), "x"),)),)
    )
    assert next_check(beyond, T0) == T0 + IDLE_CHECK  # more than 400 days away: not seen yet


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(min_value=0, max_value=60 * 24 * 30), cut=st.floats(min_value=0, max_value=1))
def test_whoever_is_on_call_now_stays_until_the_next_look(offset: int, cut: float) -> None:
    """Between ``now`` and ``next_check`` nobody comes on or goes off call: looking later misses nothing."""
    schedule = Schedule(
        "mixed",
        BERLIN,
        (WEEKLY, OFFICE),
        (Override("bob", _z(2026, 12, 15, 13, 30), _z(2026, 12, 17, 2)),),
    )
    now = T0 + timedelta(minutes=offset)
    later = next_check(schedule, now)
    assert later > now
    inside = now + (later - now) * cut
    if inside < later:
        assert oncall(schedule, inside) == oncall(schedule, now)


# -- what a change does -----------------------------------------------------------------------


def test_the_same_person_on_call_is_no_change() -> None:
    schedule = _weekly(Override("ann", _z(2026, 12, 8), _z(2026, 12, 9)))  # ann covers her own week
    assert change_of(_catalog(schedule), schedule, "ann", _z(2026, 12, 8, 12)) is None


def test_a_handoff_ends_one_shift_and_starts_the_next_for_the_queues_naming_the_schedule() -> None:
    schedule = _weekly()
    at = _z(2026, 12, 14, 8)
    change = change_of(_catalog(schedule), schedule, "ann", at)
    assert change is not None
    assert (change.outgoing, change.incoming, change.queue_names) == ("ann", "bob", ["desk", "ops"])
    assert change.announcements() == [
        OncallShiftEnded(schedule="desk-week", person="ann", queues=["desk", "ops"], at=at),
        OncallShiftStarted(schedule="desk-week", person="bob", queues=["desk", "ops"], at=at),
    ]
    assert [q.name for q in change.moving()] == ["ops"]  # desk keeps its work


def test_the_first_look_starts_a_shift_and_only_reassign_queues_hand_work_to_it() -> None:
    schedule = _weekly()
    change = change_of(_catalog(schedule), schedule, None, T0)
    assert change is not None
    assert [(type(e).__name__, e.person) for e in change.announcements()] == [("OncallShiftStarted", "ann")]
    # whatever off-call members hold in a reassign queue goes to whoever is on call now
    assert [q.name for q in change.moving()] == ["ops"]


def test_a_gap_only_ends_the_shift_and_held_work_stays_even_in_a_reassign_queue() -> None:
    office = Schedule("office", BERLIN, (OFFICE,))
    catalog = Catalog(
        agents={},
        queues=[Queue(name="desk", tier="L1", agents=["cat", "dan"], schedule="office", handover="reassign")],
        policies=[],
        schedules={"office": office},
    )
    evening = _z(2026, 12, 7, 16)  # Monday 17:00 in Berlin
    change = change_of(catalog, office, "cat", evening)
    assert change is not None
    assert change.incoming is None
    assert [(type(e).__name__, e.person) for e in change.announcements()] == [("OncallShiftEnded", "cat")]
    assert change.moving() == []  # nobody comes on: nothing is torn away from cat
