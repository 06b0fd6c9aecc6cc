"""The Clock aggregate: every transition, the events it returns and the ones it refuses (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.events import (
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
)
from tierline_sla_monitor.domain.calendar import ALWAYS, Calendar
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.clock import Clock, ClockError, tier_change
from tierline_sla_monitor.domain.incident import Incident
from tierline_sla_monitor.domain.policy import DEFAULT_POLICIES, ClockKind, ClockState, SlaPolicy

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday; office hours are UTC here
H = timedelta(hours=1)
M = timedelta(minutes=1)
OFFICE = Calendar(name="office", hours={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
INCIDENT = uuid.uuid4()


def _clock(
    kind: ClockKind = ClockKind.RESOLUTION,
    target: timedelta = 4 * H,
    calendar: Calendar = ALWAYS,
    warnings: tuple[float, ...] = (),
    at: datetime = T0,
    **kw: str,
) -> tuple[Clock, SlaClockStarted]:
    return Clock.start(
        id=uuid.uuid4(),
        incident_id=INCIDENT,
        kind=kind,
        started_at=at,
        target=target,
        calendar=calendar,
        warnings=warnings,
        **kw,
    )


def _policy(name: str = "p1", response: str = "15m", resolution: str = "4h", **fields: object) -> SlaPolicy:
    return SlaPolicy.model_validate({"name": name, "response": response, "resolution": resolution, **fields})


# --- start ----------------------------------------------------------------------------------------


def test_start_runs_from_its_start_and_announces_its_due_time() -> None:
    clock, started = _clock(ClockKind.TIER, 30 * M, tier="L1", priority="P1", policy="p1")
    assert clock.state is ClockState.RUNNING and clock.is_open
    assert clock.due_at == clock.fire_at == T0 + 30 * M
    assert (clock.tier, clock.priority, clock.policy, clock.calendar) == ("L1", "P1", "p1", "24x7")
    assert started == SlaClockStarted(
        incident_id=INCIDENT, clock="tier", tier="L1", due_at=T0 + 30 * M, started_at=T0
    )


def test_start_on_a_business_calendar_is_due_in_business_time() -> None:
    friday_four = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    clock, started = _clock(target=2 * H, calendar=OFFICE, at=friday_four)
    assert started.due_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # one hour Friday, one Monday
    assert clock.calendar == "office"


def test_the_first_warning_is_the_first_look() -> None:
    clock, _ = _clock(target=4 * H, warnings=(0.5, 0.75))
    assert clock.fire_at == T0 + 2 * H and clock.due_at == T0 + 4 * H


# --- warn and breach (the poller) -----------------------------------------------------------------


def test_warnings_come_in_order_then_the_breach() -> None:
    clock, _ = _clock(target=4 * H, warnings=(0.5, 0.75))
    first = clock.fire(ALWAYS, T0 + 2 * H)
    assert first == SlaWarning(
        incident_id=INCIDENT,
        clock="resolution",
        threshold=0.5,
        due_at=T0 + 4 * H,
        elapsed_seconds=7200.0,
        remaining_seconds=7200.0,
        at=T0 + 2 * H,
    )
    assert clock.fire_at == T0 + 3 * H and clock.run.warned == 1
    second = clock.fire(ALWAYS, T0 + 3 * H + M)  # a late poll: the figures are as of the poll
    assert isinstance(second, SlaWarning) and second.threshold == 0.75
    assert second.elapsed_seconds == (3 * H + M).total_seconds()
    assert clock.fire_at == clock.due_at == T0 + 4 * H
    breach = clock.fire(ALWAYS, T0 + 4 * H + M)
    assert breach == SlaBreached(
        incident_id=INCIDENT, clock="resolution", due_at=T0 + 4 * H, breached_at=T0 + 4 * H + M
    )
    assert clock.state is ClockState.BREACHED and not clock.is_open
    assert (clock.stopped_at, clock.fire_at, clock.run.running_since) == (T0 + 4 * H + M, None, None)
    assert clock.run.elapsed == 4 * H + M and clock.due_at == T0 + 4 * H  # keeps the due time it missed


def test_a_breach_needs_a_running_clock_past_its_due_time() -> None:
    clock, _ = _clock(target=H)
    with pytest.raises(ClockError):
        clock.breach(ALWAYS, T0 + 30 * M)
    clock.pause(ALWAYS, "awaiting_customer", T0 + 30 * M)
    with pytest.raises(ClockError):
        clock.breach(ALWAYS, T0 + 2 * H)


def test_no_warning_left_is_refused() -> None:
    clock, _ = _clock(target=H)
    with pytest.raises(ClockError, match="no warning"):
        clock.warn(ALWAYS, T0 + 30 * M)


# --- pause and resume -----------------------------------------------------------------------------


def test_pause_banks_the_time_spent_and_stops_counting() -> None:
    clock, _ = _clock(target=8 * H, calendar=OFFICE)
    paused = clock.pause(OFFICE, "awaiting_customer", T0 + 3 * H)
    assert paused == SlaClockPaused(
        incident_id=INCIDENT,
        clock="resolution",
        reason="awaiting_customer",
        elapsed_seconds=3 * 3600.0,
        remaining_seconds=5 * 3600.0,
        at=T0 + 3 * H,
    )
    assert clock.state is ClockState.PAUSED and clock.is_open
    assert clock.due_at is None and clock.fire_at is None
    assert clock.elapsed_at(OFFICE, T0 + 30 * H) == 3 * H


def test_resume_counts_on_and_moves_the_due_time_by_the_pause() -> None:
    clock, _ = _clock(target=8 * H, calendar=OFFICE)
    clock.pause(OFFICE, "awaiting_customer", T0 + 3 * H)
    resumed = clock.resume(OFFICE, T0 + 24 * H)  # Tuesday 09:00: five business hours left
    assert resumed == SlaClockResumed(
        incident_id=INCIDENT, clock="resolution", due_at=T0 + 29 * H, at=T0 + 24 * H
    )
    assert clock.state is ClockState.RUNNING and clock.fire_at == T0 + 29 * H


def test_pause_and_resume_only_from_the_right_state() -> None:
    clock, _ = _clock()
    with pytest.raises(ClockError):
        clock.resume(ALWAYS, T0)
    clock.pause(ALWAYS, "awaiting_vendor", T0 + H)
    with pytest.raises(ClockError):
        clock.pause(ALWAYS, "awaiting_vendor", T0 + 2 * H)
    clock.stop(ALWAYS, T0 + 3 * H)
    with pytest.raises(ClockError):
        clock.resume(ALWAYS, T0 + 4 * H)


def test_a_pause_across_the_due_time_holds_off_the_breach_until_the_time_is_spent() -> None:
    clock, _ = _clock(target=2 * H)
    clock.pause(ALWAYS, "awaiting_customer", T0 + H)
    assert clock.fire_at is None  # the poller never looks at a paused clock, however long it waits
    clock.resume(ALWAYS, T0 + 5 * H)
    assert clock.due_at == T0 + 6 * H
    with pytest.raises(ClockError):
        clock.breach(ALWAYS, T0 + 5 * H + 30 * M)
    breached = clock.fire(ALWAYS, T0 + 6 * H)
    assert isinstance(breached, SlaBreached) and clock.run.elapsed == 2 * H


def test_stopped_while_paused_is_judged_by_the_time_spent() -> None:
    within, _ = _clock(target=2 * H)
    within.pause(ALWAYS, "awaiting_customer", T0 + H)
    met = within.stop(ALWAYS, T0 + 10 * H)
    assert isinstance(met, SlaMet) and met.elapsed_seconds == within.finished_seconds == 3600.0
    over, _ = _clock(target=H)
    over.pause(ALWAYS, "awaiting_customer", T0 + 2 * H)  # paused after its due time, before a poll
    event = over.stop(ALWAYS, T0 + 10 * H)
    assert event == SlaBreached(
        incident_id=INCIDENT, clock="resolution", due_at=T0 + 10 * H, breached_at=T0 + 10 * H
    )


# --- stop, cancel ---------------------------------------------------------------------------------


def test_stop_in_time_is_met_and_after_the_due_time_a_breach() -> None:
    met, _ = _clock(ClockKind.RESPONSE, 15 * M, tier=None)
    assert met.stop(ALWAYS, T0 + 10 * M) == SlaMet(
        incident_id=INCIDENT, clock="response", due_at=T0 + 15 * M, met_at=T0 + 10 * M, elapsed_seconds=600.0
    )
    assert (met.state, met.stopped_at, met.fire_at, met.finished_seconds) == (
        ClockState.MET,
        T0 + 10 * M,
        None,
        600.0,
    )
    late, _ = _clock(ClockKind.RESPONSE, 15 * M)
    assert isinstance(late.stop(ALWAYS, T0 + 16 * M), SlaBreached)
    assert late.state is ClockState.BREACHED and late.finished_seconds == 960.0


def test_met_reports_the_business_time_it_counted_on_its_calendar() -> None:
    """From Monday 16:30 to Tuesday 09:45 on office hours (09-17): 30 + 45 business minutes."""
    clock, _ = _clock(target=8 * H, calendar=OFFICE, at=T0 + 7 * H + 30 * M)
    met = clock.stop(OFFICE, T0 + 24 * H + 45 * M)
    assert isinstance(met, SlaMet) and met.elapsed_seconds == 75 * 60


def test_a_closed_clock_cannot_stop_or_cancel_again() -> None:
    clock, _ = _clock()
    clock.cancel(T0 + H)
    assert (clock.state, clock.stopped_at, clock.fire_at) == (ClockState.CANCELLED, T0 + H, None)
    with pytest.raises(ClockError):
        clock.stop(ALWAYS, T0 + 2 * H)
    with pytest.raises(ClockError):
        clock.cancel(T0 + 2 * H)


# --- late stops after a breach --------------------------------------------------------------------


def test_a_stop_in_time_that_arrives_after_the_breach_turns_it_into_met() -> None:
    clock, _ = _clock(ClockKind.RESPONSE, 15 * M)
    clock.fire(ALWAYS, T0 + 20 * M)  # the poller breached it (banked 20 minutes)
    met = clock.correct_early_breach(ALWAYS, T0 + 12 * M)  # the acknowledgement was at 12 minutes
    assert met == SlaMet(
        incident_id=INCIDENT, clock="response", due_at=T0 + 15 * M, met_at=T0 + 12 * M, elapsed_seconds=720.0
    )
    assert clock.state is ClockState.MET and clock.stopped_at == T0 + 12 * M
    assert clock.run.elapsed == 12 * M and clock.finished_seconds == 720.0


def test_only_a_breach_due_after_the_stop_can_be_corrected() -> None:
    clock, _ = _clock(ClockKind.RESPONSE, 15 * M)
    with pytest.raises(ClockError):
        clock.correct_early_breach(ALWAYS, T0 + 5 * M)  # not breached
    clock.fire(ALWAYS, T0 + 20 * M)
    with pytest.raises(ClockError):
        clock.correct_early_breach(ALWAYS, T0 + 16 * M)  # stopped after its due time: a real breach


def test_a_breached_clock_records_when_its_work_really_finished() -> None:
    clock, _ = _clock(target=H, calendar=OFFICE)
    clock.fire(OFFICE, T0 + H)
    clock.record_finish(OFFICE, T0 + 3 * H)  # two more business hours after the breach
    assert clock.finished_seconds == 3 * 3600.0
    clock.record_finish(OFFICE, T0 + 30 * M)  # a stop before the (late) breach counts back
    assert clock.finished_seconds == 1800.0
    running, _ = _clock()
    with pytest.raises(ClockError):
        running.record_finish(ALWAYS, T0 + H)


# --- recalculate ----------------------------------------------------------------------------------


def test_a_higher_priority_counts_the_time_spent_against_its_shorter_target() -> None:
    clock, _ = _clock(target=24 * H, warnings=(0.75, 0.9), priority="P3", service="s", policy="p3")
    event = clock.recalculate(
        old_calendar=ALWAYS,
        policy=_policy(warnings=[0.75, 0.9]),
        calendar=ALWAYS,
        priority="P1",
        service="s",
        paused=False,
        at=T0 + 3 * H,
    )
    assert event == SlaRecalculated(
        incident_id=INCIDENT,
        clock="resolution",
        old_due_at=T0 + 24 * H,
        due_at=T0 + 4 * H,
        reason="priority P1, policy p1",
        at=T0 + 3 * H,
    )
    assert (clock.priority, clock.policy, clock.run.target) == ("P1", "p1", 4 * H)
    assert clock.run.warned == 0 and clock.fire_at == T0 + 3 * H  # 75 % already spent: warn at once


def test_recalculate_moves_the_clock_onto_the_new_policys_calendar() -> None:
    clock, _ = _clock(target=4 * H)
    event = clock.recalculate(
        old_calendar=ALWAYS,
        policy=_policy("p4", resolution="8h", calendar="office"),
        calendar=OFFICE,
        priority="P4",
        service="s",
        paused=False,
        at=T0 + H,
    )
    assert event is not None and event.due_at == T0 + 8 * H  # 1 h spent, 7 business hours left
    assert clock.calendar == "office"


def test_recalculate_pauses_or_resumes_the_resolution_clock_by_the_new_policy() -> None:
    clock, _ = _clock(target=8 * H)
    assert (
        clock.recalculate(
            old_calendar=ALWAYS,
            policy=_policy("p2", resolution="8h"),
            calendar=ALWAYS,
            priority="P2",
            service="s",
            paused=True,
            at=T0 + H,
        )
        is None  # paused: no due time to announce
    )
    assert clock.state is ClockState.PAUSED and clock.run.elapsed == H
    clock.recalculate(
        old_calendar=ALWAYS,
        policy=_policy("p1"),
        calendar=ALWAYS,
        priority="P1",
        service="s",
        paused=False,
        at=T0 + 5 * H,
    )
    assert clock.state is ClockState.RUNNING and clock.due_at == T0 + 8 * H


def test_the_response_clock_is_retargeted_but_never_paused() -> None:
    clock, _ = _clock(ClockKind.RESPONSE, 4 * H)
    event = clock.recalculate(
        old_calendar=ALWAYS,
        policy=_policy(),
        calendar=ALWAYS,
        priority="P1",
        service="s",
        paused=True,
        at=T0 + 5 * M,
    )
    assert clock.state is ClockState.RUNNING and event is not None and event.due_at == T0 + 15 * M


def test_an_unchanged_due_time_announces_nothing_and_a_closed_clock_refuses() -> None:
    clock, _ = _clock(target=4 * H)
    same = clock.recalculate(
        old_calendar=ALWAYS,
        policy=_policy(),
        calendar=ALWAYS,
        priority="P1",
        service="s",
        paused=False,
        at=T0 + H,
    )
    assert same is None
    clock.cancel(T0 + 2 * H)
    with pytest.raises(ClockError):
        clock.recalculate(
            old_calendar=ALWAYS,
            policy=_policy(),
            calendar=ALWAYS,
            priority="P1",
            service="s",
            paused=False,
            at=T0 + 3 * H,
        )


# --- tier stays -----------------------------------------------------------------------------------


def test_tier_change_keeps_rearms_or_replaces() -> None:
    latest, _ = _clock(ClockKind.TIER, 10 * M, tier="L1")
    assert tier_change(None, "L1", T0, 10 * M) == "replace"
    assert tier_change(latest, "L2", T0, 10 * M) == "replace"  # another tier
    assert tier_change(latest, "L1", T0 + M, 10 * M) == "replace"  # a new stay in the same tier
    assert tier_change(latest, "L1", T0, 10 * M) == "keep"  # re-assigned within the stay
    assert tier_change(latest, "L1", T0, 4 * M) == "rearm"  # a new budget for the stay
    assert tier_change(latest, "L1", T0, None) == "rearm"
    latest.fire(ALWAYS, T0 + 10 * M)
    assert tier_change(latest, "L1", T0, 4 * M) == "keep"  # its budget already ran out


# --- the incident ---------------------------------------------------------------------------------


def test_the_incident_picks_its_policy_and_pauses_on_its_reasons() -> None:
    catalog = Catalog(calendars=[OFFICE], policies=list(DEFAULT_POLICIES))
    incident = Incident(incident_id=INCIDENT)
    assert (
        incident.created(priority="P2", service="mail", customer=None, type="incident", catalog=catalog).name
        == "p2"
    )
    assert incident.policy == "p2" and incident.current_policy(catalog).name == "p2"
    incident.hold("awaiting_customer")
    assert incident.pauses_under(incident.current_policy(catalog))
    incident.hold("awaiting_vendor")
    assert not incident.pauses_under(incident.current_policy(catalog))  # defaults pause on customers only
    assert incident.reclassify(priority="P1", service="mail", type="incident", catalog=catalog).name == "p1"
    incident.close(T0)
    assert incident.is_closed and incident.hold_reason is None
    incident.close(T0 + H)
    assert incident.closed_at == T0  # the first resolve counts
    incident.reopen("P3")
    assert not incident.is_closed and incident.priority == "P3"
