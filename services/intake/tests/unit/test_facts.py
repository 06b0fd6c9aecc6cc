"""The facts the KPI reports count, derived from an incident and its timeline (pure, no I/O).

Other services' lines carry what intake stores for them: the event's fields dumped as JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_intake.domain.facts import Facts, FirstContactWindows, IncidentState, TimelineLine, derive
from tierline_shared import events

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ID = uuid.uuid4()
WINDOWS = FirstContactWindows(live=timedelta(minutes=15), other=timedelta(hours=1))


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def incident(**fields: Any) -> IncidentState:
    base = IncidentState(
        id=ID,
        created_at=T0,
        service="mail",
        category="access",
        priority="P3",
        channel="email",
        type="incident",
        status="open",
        tier="L1",
        queue="desk",
        assignee=None,
        vendor=None,
        resolved_at=None,
        reopen_count=0,
        csat_score=None,
        knowledge_article_used=None,
    )
    return replace(base, **fields)


def resolved(minute: float, **fields: Any) -> IncidentState:
    return incident(status="resolved", resolved_at=at(minute), **fields)


def event_data(event: events.IncidentEvent) -> dict[str, Any]:
    """What intake stores as the line's data for another service's event."""
    return event.model_dump(mode="json", exclude={"incident_id"})


def assigned(
    minute: float, assignee: str | None, *, tier: str = "L1", queue: str = "desk"
) -> tuple[Any, ...]:
    event = events.IncidentAssigned(
        incident_id=ID, tier=tier, queue=queue, assignee=assignee, assigned_at=at(minute)
    )
    return (minute, "assigned", event_data(event))


def moved(minute: float, from_tier: str, to_tier: str, **fields: Any) -> tuple[Any, ...]:
    direction = "up" if to_tier > from_tier else "down"
    event = events.IncidentEscalated(
        incident_id=ID,
        from_tier=from_tier,
        to_tier=to_tier,
        direction=direction,
        reason="manual",
        escalated_at=at(minute),
        **fields,
    )
    return (minute, "escalated" if direction == "up" else "de_escalated", event_data(event))


def sla(minute: float, kind: str, clock: str, **data: Any) -> tuple[Any, ...]:
    return (minute, kind, {"clock": clock, "tier": "L1", **data})


def timeline(*specs: tuple[Any, ...]) -> list[TimelineLine]:
    """Lines written in the given order: (minute, kind) or (minute, kind, data)."""
    return [
        TimelineLine(kind=spec[1], at=at(spec[0]), seq=seq, data=spec[2] if len(spec) > 2 else {})
        for seq, spec in enumerate(specs, start=1)
    ]


def facts(state: IncidentState, *specs: tuple[Any, ...], now: float = 1_000) -> Facts:
    return derive(state, timeline(*specs), WINDOWS, now=at(now))


def shape(result: Facts) -> list[tuple[Any, ...]]:
    """Each stint as (tier, agent, start minute, end minute, ended_by, hold s, handle s)."""
    minute = lambda moment: None if moment is None else (moment - T0).total_seconds() / 60  # noqa: E731
    return [
        (
            s.tier,
            s.agent,
            minute(s.started_at),
            minute(s.ended_at),
            s.ended_by,
            s.hold_seconds,
            s.handle_seconds,
        )
        for s in result.stints
    ]


# -- stints ----------------------------------------------------------------------------------


def test_waiting_then_taken_then_resolved_is_two_stints_and_only_the_agent_handled_it() -> None:
    result = facts(
        resolved(30, assignee="bob"),
        (0, "created"),
        assigned(1, None),
        assigned(5, "bob"),
        (6, "acknowledged"),
        (30, "resolved"),
    )
    assert shape(result) == [
        ("L1", None, 1, 5, None, 0.0, None),
        ("L1", "bob", 5, 30, "resolved", 0.0, 25 * 60.0),
    ]
    assert [s.n for s in result.stints] == [1, 2]
    assert [s.queue for s in result.stints] == ["desk", "desk"]
    assert (result.reassignments, result.l1_only, result.tiers_held, result.escalated_from) == (
        0,
        True,
        ["L1"],
        [],
    )
    assert (result.first_ack_at, result.resolved_at, result.agent) == (at(6), at(30), "bob")
    assert (result.handled_seconds, result.handled_stints) == (25 * 60.0, 1)  # the waiting stint: none


def test_the_same_holder_told_again_is_no_new_stint() -> None:
    result = facts(incident(), assigned(1, "bob"), assigned(3, "bob"))
    assert shape(result) == [("L1", "bob", 1, None, None, 0.0, None)]


def test_another_agent_in_the_same_tier_is_a_reassignment() -> None:
    result = facts(resolved(40), assigned(0, "bob"), assigned(10, "carol"), (40, "resolved"))
    assert shape(result) == [
        ("L1", "bob", 0, 10, "reassigned", 0.0, None),
        ("L1", "carol", 10, 40, "resolved", 0.0, 30 * 60.0),
    ]
    assert result.reassignments == 1


def test_an_agent_giving_it_back_to_the_queue_is_one_reassignment_then_the_next_agent_none() -> None:
    result = facts(incident(), assigned(0, "bob"), assigned(10, None), assigned(12, "carol"))
    assert [s.ended_by for s in result.stints] == ["reassigned", None, None]
    assert result.reassignments == 1


def test_another_queue_for_the_same_agent_is_a_new_stint_but_no_reassignment() -> None:
    result = facts(incident(), assigned(0, "bob"), assigned(10, "bob", queue="vip"))
    assert [(s.queue, s.ended_by) for s in result.stints] == [("desk", None), ("vip", None)]
    assert result.reassignments == 0


def test_escalated_up_handed_back_down_and_resolved_at_l1() -> None:
    result = facts(
        resolved(60, assignee="bob"),
        assigned(0, "bob"),
        moved(10, "L1", "L2", queue="network", assignee="nina"),
        moved(40, "L2", "L1", queue="desk", assignee="bob"),
        (60, "resolved"),
    )
    assert shape(result) == [
        ("L1", "bob", 0, 10, "escalated", 0.0, 10 * 60.0),
        ("L2", "nina", 10, 40, "de_escalated", 0.0, 30 * 60.0),
        ("L1", "bob", 40, 60, "resolved", 0.0, 20 * 60.0),
    ]
    assert result.stints[1].queue == "network"
    assert (result.tiers_held, result.escalated_from, result.l1_only) == (["L1", "L2"], ["L1"], False)
    assert result.reassignments == 0


def test_escalated_twice_out_of_l1_lists_it_once() -> None:
    result = facts(
        incident(tier="L2"),
        assigned(0, "bob"),
        moved(10, "L1", "L2", queue="network"),
        moved(20, "L2", "L1", queue="desk", assignee="bob"),
        moved(30, "L1", "L2", queue="network"),
    )
    assert result.escalated_from == ["L1"]
    assert result.tiers_held == ["L1", "L2"]


def test_an_escalation_waiting_in_a_queue_has_no_handle_time() -> None:
    result = facts(resolved(50), assigned(0, "bob"), moved(10, "L1", "L2", queue="network"), (50, "resolved"))
    assert shape(result)[1] == ("L2", None, 10, 50, "resolved", 0.0, None)


def test_the_vendor_holds_only_at_l4_and_keeps_it_across_an_assignment_there() -> None:
    result = facts(
        incident(tier="L4", vendor="acme"),
        assigned(0, "bob"),
        moved(10, "L1", "L3", queue="core", assignee="ivy", vendor="ignored"),
        moved(20, "L3", "L4", queue="vendors", vendor="acme"),
        assigned(25, "vic", tier="L4", queue="vendors"),
    )
    assert [(s.tier, s.vendor) for s in result.stints] == [
        ("L1", None),
        ("L3", None),
        ("L4", "acme"),
        ("L4", "acme"),
    ]
    assert result.escalated_from == ["L1", "L3"]
    assert result.vendor == "acme"


def test_resolve_reopen_reassign_starts_a_new_stint_even_for_the_same_holder() -> None:
    result = facts(
        incident(status="acknowledged", assignee="bob", reopen_count=1),
        assigned(0, "bob"),
        (20, "resolved"),
        assigned(25, "carol"),  # the router, late: nobody holds a resolved incident
        moved(26, "L1", "L2"),
        (30, "reopened", {"reason": "still broken", "by": "ann"}),
        assigned(31, "bob"),
    )
    assert shape(result) == [
        ("L1", "bob", 0, 20, "resolved", 0.0, 20 * 60.0),
        ("L1", "bob", 31, None, None, 0.0, None),
    ]
    assert (result.escalated_from, result.reassignments, result.reopen_count) == ([], 0, 1)
    assert result.resolved_at is None and result.first_contact is None


def test_a_resolved_incident_never_assigned_has_no_stints_and_counts_as_l1_only() -> None:
    result = facts(resolved(5), (0, "created"), (5, "resolved"))
    assert (result.stints, result.tiers_held, result.l1_only, result.reassignments) == ([], [], True, 0)


def test_an_escalation_out_of_a_tier_never_held_is_not_counted_as_one() -> None:
    result = facts(incident(tier="L2"), moved(10, "L1", "L2", queue="network"))
    assert result.tiers_held == ["L2"]
    assert result.escalated_from == []


def test_the_agent_is_who_holds_it_now_else_who_held_it_last() -> None:
    lines = (assigned(0, "bob"), moved(10, "L1", "L2", queue="network"))
    assert facts(incident(tier="L2", queue="network"), *lines).agent == "bob"
    assert facts(incident(tier="L2", assignee="nina"), *lines).agent == "nina"
    assert facts(incident()).agent is None


# -- holds -----------------------------------------------------------------------------------


def test_a_hold_is_split_between_the_stints_it_overlaps_and_taken_off_handle_time() -> None:
    result = facts(
        resolved(100, assignee="nina"),
        assigned(0, "bob"),
        (10, "on_hold", {"reason": "awaiting_customer"}),
        moved(20, "L1", "L2", queue="network", assignee="nina"),
        (30, "resumed"),
        (50, "on_hold", {"reason": "awaiting_vendor"}),
        (60, "resumed"),
        (100, "resolved"),
    )
    assert shape(result) == [
        ("L1", "bob", 0, 20, "escalated", 10 * 60.0, 10 * 60.0),
        ("L2", "nina", 20, 100, "resolved", 20 * 60.0, 60 * 60.0),
    ]
    assert result.hold_seconds == 30 * 60.0


def test_a_resolution_or_closure_ends_a_hold_and_an_open_hold_runs_until_now() -> None:
    ended_by_resolution = facts(
        resolved(20), assigned(0, "bob"), (5, "on_hold"), (20, "resolved"), (25, "resumed")
    )
    assert ended_by_resolution.hold_seconds == 15 * 60.0
    assert shape(ended_by_resolution) == [("L1", "bob", 0, 20, "resolved", 15 * 60.0, 5 * 60.0)]

    still_on_hold = facts(incident(status="on_hold"), assigned(0, "bob"), (5, "on_hold"), now=65)
    assert still_on_hold.hold_seconds == 60 * 60.0
    assert shape(still_on_hold) == [("L1", "bob", 0, None, None, 60 * 60.0, None)]


def test_a_hold_before_anyone_held_it_counts_in_the_total_but_in_no_stint() -> None:
    result = facts(resolved(40), (0, "on_hold"), (10, "resumed"), assigned(20, "bob"), (40, "resolved"))
    assert result.hold_seconds == 10 * 60.0
    assert shape(result) == [("L1", "bob", 20, 40, "resolved", 0.0, 20 * 60.0)]


# -- first contact ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "minutes", "first"),
    [
        ("phone", 15, True),  # the window's edge is inside it
        ("phone", 16, False),
        ("chat", 10, True),
        ("email", 60, True),
        ("web", 61, False),
    ],
)
def test_first_contact_on_the_wall_clock_without_business_seconds(
    channel: str, minutes: int, first: bool
) -> None:
    result = facts(resolved(minutes, channel=channel), assigned(0, "bob"), (minutes, "resolved"))
    assert result.first_contact is first


def test_first_contact_for_email_counts_the_resolution_clocks_business_seconds() -> None:
    overnight = (assigned(0, "bob"), (600, "resolved"))
    within = sla(600, "sla_met", "resolution", due_at=at(2000).isoformat(), elapsed_seconds=1800)
    assert facts(resolved(600), *overnight, within).first_contact is True

    beyond = sla(20, "sla_met", "resolution", elapsed_seconds=3601)
    assert facts(resolved(20), assigned(0, "bob"), (20, "resolved"), beyond).first_contact is False


def test_first_contact_takes_the_latest_met_resolution_clock_that_carries_business_seconds() -> None:
    result = facts(
        resolved(600, reopen_count=1),
        sla(10, "sla_met", "resolution", elapsed_seconds=600),
        sla(500, "sla_met", "resolution", elapsed_seconds=4000),
        sla(600, "sla_met", "resolution"),  # an SLA monitor older than elapsed_seconds
        sla(600, "sla_met", "response", elapsed_seconds=10),  # another clock
    )
    assert result.first_contact is False


def test_phone_ignores_business_seconds() -> None:
    result = facts(resolved(30, channel="phone"), sla(30, "sla_met", "resolution", elapsed_seconds=60))
    assert result.first_contact is False


def test_resolved_only_while_resolved_or_closed() -> None:
    closed = facts(incident(status="closed", resolved_at=at(10), knowledge_article_used="KB-1"))
    assert (closed.resolved_at, closed.first_contact, closed.knowledge_linked) == (at(10), True, True)
    reopened = facts(incident(status="open", resolved_at=at(10), knowledge_article_used="KB-1"))
    assert (reopened.resolved_at, reopened.first_contact, reopened.knowledge_linked) == (None, None, False)


# -- SLA outcomes, vendor, the rest ----------------------------------------------------------


def test_sla_outcomes_latest_wins_and_breached_is_any_response_or_resolution_breach() -> None:
    result = facts(
        incident(),
        sla(10, "sla_breached", "response"),
        sla(20, "sla_met", "response"),
        sla(30, "sla_met", "resolution"),
        sla(40, "sla_breached", "resolution"),
        sla(50, "sla_breached", "vendor_response"),
        sla(55, "sla_met", "vendor_resolution"),
    )
    assert (result.response_met, result.resolution_met, result.breached) == (True, False, True)
    assert (result.vendor_response_met, result.vendor_resolution_met) == (False, True)


def test_no_outcome_is_none_and_a_tier_clock_breach_is_not_breached() -> None:
    result = facts(incident(), sla(10, "sla_breached", "tier"), sla(5, "sla_clock_started", "response"))
    assert (result.response_met, result.resolution_met, result.breached) == (None, None, False)
    assert (result.vendor_response_met, result.vendor_resolution_met) == (None, None)


def test_vendor_times_are_each_first_and_rejection_or_failure_any() -> None:
    result = facts(
        incident(tier="L4", vendor="acme"),
        (10, "vendor_case_opened", {"vendor": "acme"}),
        (12, "vendor_delivery_failed", {"vendor": "acme"}),
        (15, "vendor_case_opened", {"vendor": "acme"}),
        (20, "vendor_case_acknowledged", {"vendor": "acme"}),
        (25, "vendor_case_acknowledged", {"vendor": "acme"}),
        (30, "vendor_case_rejected", {"vendor": "acme"}),
        (40, "vendor_case_resolved", {"vendor": "acme"}),
    )
    assert (result.vendor_handoff_at, result.vendor_ack_at, result.vendor_resolved_at) == (
        at(10),
        at(20),
        at(40),
    )
    assert (result.vendor_rejected, result.vendor_failed) == (True, True)
    quiet = facts(incident())
    assert (quiet.vendor_handoff_at, quiet.vendor_rejected, quiet.vendor_failed) == (None, False, False)


def test_dimensions_and_counts_come_from_the_incident_row_and_the_first_ack_survives_a_reopen() -> None:
    state = resolved(
        90, channel="phone", priority="P1", type="service_request", csat_score=4, reopen_count=1, queue="vip"
    )
    result = facts(state, (5, "acknowledged"), (10, "resolved"), (20, "reopened"), (25, "acknowledged"))
    assert (result.incident_id, result.created_at, result.channel, result.priority) == (ID, T0, "phone", "P1")
    assert (result.type, result.status, result.tier, result.queue) == (
        "service_request",
        "resolved",
        "L1",
        "vip",
    )
    assert (result.csat_score, result.reopen_count, result.first_ack_at) == (4, 1, at(5))
    assert result.knowledge_linked is False


def test_lines_given_out_of_order_give_the_same_facts() -> None:
    specs = (
        assigned(0, "bob"),
        (5, "on_hold"),
        moved(10, "L1", "L2", queue="network", assignee="nina"),
        (15, "resumed"),
        sla(20, "sla_met", "response"),
        (60, "resolved"),
    )
    lines = timeline(*specs)
    state = resolved(60, tier="L2")
    in_order = derive(state, lines, WINDOWS, now=at(100))
    assert derive(state, list(reversed(lines)), WINDOWS, now=at(100)) == in_order
    # At the same time the order of writing (seq) decides, whatever order the lines come in.
    tie = [TimelineLine("assigned", at(0), 0, assigned(0, "carol")[2]), *lines]
    for given in (tie, list(reversed(tie))):
        tied = derive(state, given, WINDOWS, now=at(100))
        assert [(s.agent, s.ended_by) for s in tied.stints[:2]] == [
            ("carol", "reassigned"),
            ("bob", "escalated"),
        ]
