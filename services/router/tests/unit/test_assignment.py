"""The Assignment aggregate: every transition, the rules it enforces and the events it returns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_router.domain.assignment import ACTIVE, RELEASED, Assignment
from tierline_router.domain.model import (
    BottomOfLadder,
    EscalationPolicy,
    ListedVendor,
    NoVendor,
    Subject,
    TopOfLadder,
    VendorRule,
)
from tierline_shared.errors import Conflict, InvalidInput
from tierline_shared.events import VendorContract as WireContract

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def policy(**overrides: Any) -> EscalationPolicy:
    raw: dict[str, Any] = {
        "name": "rest",
        "ladder": [
            {"tier": "L1", "budget": "10m"},
            {"tier": "L2", "budget": "20m"},
            {"tier": "L3", "budget": "30m"},
            {"tier": "L4"},
        ],
        "ack_timeout": "60s",
        "repeat": 2,
    }
    raw.update(overrides)
    return EscalationPolicy.model_validate(raw)


SHORT = policy(name="short", ladder=[{"tier": "L2", "budget": "5m"}, {"tier": "L3", "budget": "9m"}])
SUBJECT = Subject(service="vpn", category="network", priority="P3", product="anyconnect")
ACME = VendorRule.model_validate({"vendor": "acme", "services": ["vpn"], "contract": {"response": "1h"}})
INITECH = VendorRule.model_validate({"vendor": "initech", "services": ["vpn"]})


def opened(on: EscalationPolicy | None = None, subject: Subject = SUBJECT) -> Assignment:
    return Assignment.open(uuid.uuid4(), subject, on or policy(), T0)


def held(
    agent: str | None = "ann", tier: str = "L1", queue: str = "desk", on: EscalationPolicy | None = None
):
    assignment = opened(on)
    assignment.tier = tier
    assignment.assign(queue, agent, on or policy(), reason="routed", now=T0)
    return assignment


# --- opening and placing ----------------------------------------------------------------------------


def test_a_new_incident_enters_its_policys_first_tier_unplaced() -> None:
    assignment = opened(SHORT)
    assert (assignment.tier, assignment.policy, assignment.status) == ("L2", "short", ACTIVE)
    assert (assignment.queue, assignment.assignee, assignment.vendor) == (None, None, None)
    assert assignment.tier_entered_at == assignment.created_at == assignment.updated_at == T0
    assert assignment.subject == SUBJECT


def test_assigning_to_an_agent_arms_the_ack_timer_and_says_so() -> None:
    assignment = opened()
    event = assignment.assign("desk", "ann", policy(), reason="routed", now=LATER)
    assert (assignment.queue, assignment.assignee, assignment.waiting_since) == ("desk", "ann", None)
    assert assignment.ack_due_at == LATER + timedelta(seconds=60)
    assert assignment.updated_at == LATER
    assert event.incident_id == assignment.incident_id
    assert (event.tier, event.queue, event.assignee, event.reason) == ("L1", "desk", "ann", "routed")
    assert event.tier_budget_seconds == 600
    assert (event.tier_entered_at, event.assigned_at) == (T0, LATER)


def test_nobody_free_the_incident_waits_from_the_first_time_it_could_not_be_placed() -> None:
    assignment = opened()
    event = assignment.assign("desk", None, policy(), reason="routed", now=T0)
    assert (assignment.assignee, assignment.waiting_since, assignment.ack_due_at) == (None, T0, None)
    assert event.assignee is None
    assignment.assign("desk", None, policy(), reason="rerouted", now=LATER)
    assert assignment.waiting_since == T0
    assignment.assign("desk", "bob", policy(), reason="dequeued", now=LATER)
    assert assignment.waiting_since is None


def test_no_ack_timer_without_a_timeout_or_once_acknowledged() -> None:
    assignment = held(on=policy(ack_timeout=None, repeat=0))
    assert assignment.ack_due_at is None
    acknowledged = held()
    acknowledged.acknowledge(LATER)
    acknowledged.assign("desk", "bob", policy(), reason="reassigned", now=LATER)
    assert acknowledged.ack_due_at is None


def test_placing_again_resets_the_reminders() -> None:
    assignment = held()
    assignment.remind(policy(), LATER)
    assert assignment.renotified == 1
    assignment.assign("desk", "bob", policy(), reason="reassigned", now=LATER)
    assert assignment.renotified == 0


def test_unassign_says_who_had_it() -> None:
    assignment = held("ann")
    assert assignment.unassign(LATER) == "ann"
    assert (assignment.assignee, assignment.updated_at) == (None, LATER)


def test_an_assignment_is_never_announced_without_a_queue() -> None:
    assignment = opened()
    with pytest.raises(ValueError):
        assignment.retime(policy(ack_timeout="2m"), policy(), LATER)


# --- where a move goes ----------------------------------------------------------------------------


def test_escalation_climbs_the_ladder() -> None:
    assert held().escalation_target(policy(), reason="sla_breach") == "L2"
    assert held(tier="L3").escalation_target(policy(), reason="sla_breach") == "L4"


def test_past_the_ladders_top_only_by_hand() -> None:
    assignment = held(tier="L3", on=SHORT)
    with pytest.raises(TopOfLadder):
        assignment.escalation_target(SHORT, reason="sla_breach")
    assert assignment.escalation_target(SHORT, reason="manual") == "L4"
    assignment.tier = "L4"
    with pytest.raises(TopOfLadder):
        assignment.escalation_target(SHORT, reason="manual")


def test_a_resolved_incident_does_not_move() -> None:
    assignment = held()
    assignment.release(LATER)
    with pytest.raises(Conflict) as escalating:
        assignment.escalation_target(policy(), reason="manual")
    assert escalating.value.extensions["assignment_status"] == RELEASED
    with pytest.raises(Conflict):
        assignment.de_escalation_target(policy(), None)


def test_de_escalation_goes_to_the_rung_below_or_the_tier_asked_for() -> None:
    assert held(tier="L3").de_escalation_target(policy(), None) == "L2"
    assert held(tier="L3").de_escalation_target(policy(), "L1") == "L1"
    assert held(tier="L3", on=SHORT).de_escalation_target(SHORT, None) == "L2"
    assert held(tier="L2", on=SHORT).de_escalation_target(SHORT, None) == "L1"


def test_de_escalation_refuses_the_bottom_and_tiers_not_below() -> None:
    with pytest.raises(BottomOfLadder):
        held(tier="L1").de_escalation_target(policy(), None)
    for asked in ("L2", "L3", "L4"):
        with pytest.raises(InvalidInput) as refused:
            held(tier="L2").de_escalation_target(policy(), asked)
        assert refused.value.extensions["errors"][0]["pointer"] == "/to_tier"


# --- moves between human tiers --------------------------------------------------------------------


def test_moving_up_counts_an_escalation_and_places_in_the_new_tier() -> None:
    assignment = held("ann")
    event = assignment.move_to("L2", "tech", "bob", policy(), reason="sla_breach", now=LATER)
    assert (assignment.tier, assignment.queue, assignment.assignee) == ("L2", "tech", "bob")
    assert (assignment.tier_entered_at, assignment.escalations) == (LATER, 1)
    assert assignment.ack_due_at == LATER + timedelta(seconds=60)
    assert (event.from_tier, event.to_tier, event.direction, event.reason) == ("L1", "L2", "up", "sla_breach")
    assert (event.queue, event.assignee, event.vendor, event.vendor_contract) == ("tech", "bob", None, None)
    assert (event.tier_budget_seconds, event.escalated_at) == (1200, LATER)


def test_moving_down_is_not_an_escalation_and_may_wait() -> None:
    assignment = held("bob", tier="L2", queue="tech")
    event = assignment.move_to("L1", "desk", None, policy(), reason="manual", note="desk can", now=LATER)
    assert (assignment.escalations, assignment.waiting_since, assignment.assignee) == (0, LATER, None)
    assert (event.direction, event.note, event.assignee) == ("down", "desk can", None)


def test_a_human_move_never_reaches_l4() -> None:
    with pytest.raises(ValueError):
        held().move_to("L4", "desk", None, policy(), reason="manual", now=LATER)


# --- the vendor -----------------------------------------------------------------------------------


def test_handing_to_a_vendor_leaves_the_queues_and_carries_the_contract() -> None:
    assignment = held("ann", tier="L3", queue="experts")
    event = assignment.hand_to_vendor([ACME, INITECH], {}, policy(), reason="manual", now=LATER)
    assert (assignment.tier, assignment.vendor, assignment.queue, assignment.assignee) == (
        "L4",
        "acme",
        None,
        None,
    )
    assert (assignment.ack_due_at, assignment.waiting_since, assignment.escalations) == (None, None, 1)
    assert event.vendor == "acme"
    assert event.vendor_contract == WireContract(response_seconds=3600, resolution_seconds=None)
    assert (event.to_tier, event.queue, event.assignee, event.tier_budget_seconds) == ("L4", None, None, None)


def test_a_vendor_that_turned_it_away_is_passed_over() -> None:
    assignment = held(tier="L3")
    assignment.rejected_by = ["acme"]
    assignment.hand_to_vendor([ACME, INITECH], {}, policy(), reason="manual", now=LATER)
    assert assignment.vendor == "initech"


def test_no_vendor_leaves_the_incident_where_it_is_and_says_why() -> None:
    assignment = held("ann", tier="L3", queue="experts")
    assignment.rejected_by = ["acme"]
    directory = {"initech": ListedVendor(vendor="initech", is_enabled=False)}
    with pytest.raises(NoVendor) as none:
        assignment.hand_to_vendor([ACME, INITECH], directory, policy(), reason="sla_breach", now=LATER)
    assert none.value.detail == (
        "No vendor takes service 'vpn', category 'network' or product 'anyconnect' (turned away by acme)"
        " (disabled: initech); the incident stays at L3."
    )
    assert (assignment.tier, assignment.assignee, assignment.vendor, assignment.escalations) == (
        "L3",
        "ann",
        None,
        0,
    )


def test_a_blocked_escalation_names_its_cause() -> None:
    assignment = held(tier="L3")
    top = assignment.escalation_blocked(TopOfLadder("at the top"), reason="sla_breach", now=LATER)
    assert (top.tier, top.reason, top.cause, top.detail, top.at) == (
        "L3",
        "sla_breach",
        "top_of_ladder",
        "at the top",
        LATER,
    )
    none = assignment.escalation_blocked(NoVendor("nobody"), reason="no_ack", now=LATER)
    assert (none.cause, none.reason) == ("no_vendor", "no_ack")


def test_only_the_vendor_holding_the_case_can_give_it_back() -> None:
    assignment = held(tier="L3")
    assignment.hand_to_vendor([ACME], {}, policy(), reason="manual", now=LATER)
    assert not assignment.turn_away("initech")
    assert assignment.turn_away("acme")
    assert assignment.rejected_by == ["acme"]
    assert Assignment.return_tier(policy()) == "L3"
    assert Assignment.return_tier(SHORT) == "L3"
    assert Assignment.return_tier(policy(ladder=[{"tier": "L1"}, {"tier": "L2"}, {"tier": "L4"}])) == "L2"
    assignment.release(LATER)
    assert not assignment.turn_away("acme")


def test_a_case_back_from_the_vendor_is_no_longer_the_vendors() -> None:
    assignment = held(tier="L3")
    assignment.hand_to_vendor([ACME], {}, policy(), reason="manual", now=LATER)
    assignment.turn_away("acme")
    event = assignment.move_to(
        "L3", "experts", None, policy(), reason="vendor_rejected", note="no", now=LATER
    )
    assert (assignment.vendor, assignment.escalations, event.direction) == (None, 1, "down")


# --- acknowledgement ------------------------------------------------------------------------------


def test_acknowledging_stops_the_timer() -> None:
    assignment = held()
    assignment.acknowledge(LATER)
    assert (assignment.is_acknowledged, assignment.ack_due_at, assignment.updated_at) == (True, None, LATER)


def test_reminders_until_the_repeats_are_spent_then_the_timer_stops() -> None:
    assignment = held()
    for attempt in (1, 2):
        event = assignment.remind(policy(), LATER)
        assert event is not None
        assert (event.attempt, event.of, event.assignee, event.queue, event.tier) == (
            attempt,
            2,
            "ann",
            "desk",
            "L1",
        )
        assert assignment.ack_due_at == LATER + timedelta(seconds=60)
    assert assignment.remind(policy(), LATER) is None
    assert assignment.ack_due_at is None


# --- resolution, reopening, edits -----------------------------------------------------------------


def test_release_frees_the_agent_once() -> None:
    assignment = held("ann")
    assert assignment.release(LATER) == "ann"
    assert (assignment.status, assignment.ack_due_at, assignment.assignee) == (RELEASED, None, "ann")
    assert assignment.release(LATER) is None


def test_release_of_a_waiting_incident_frees_nobody() -> None:
    assignment = held(None)
    assert assignment.release(LATER) is None
    assert assignment.waiting_since is None


def test_reopening_at_a_human_tier_needs_a_placement() -> None:
    assignment = held("ann")
    assignment.acknowledge(T0)
    assert not assignment.reopen(LATER)  # still open: nothing to do
    assignment.release(T0)
    assert assignment.reopen(LATER)
    assert (assignment.status, assignment.is_acknowledged, assignment.tier_entered_at) == (
        ACTIVE,
        False,
        LATER,
    )


def test_reopening_while_the_vendor_holds_the_case_leaves_it_there() -> None:
    assignment = held(tier="L3")
    assignment.hand_to_vendor([ACME], {}, policy(), reason="manual", now=T0)
    assignment.release(T0)
    assert not assignment.reopen(LATER)
    assert (assignment.status, assignment.tier, assignment.tier_entered_at) == (ACTIVE, "L4", T0)


def test_an_edit_takes_the_product_only_when_it_changed() -> None:
    assignment = held()
    kept = assignment.revise(
        priority="P1", service="mail", category="email", product=None, is_product_changed=False, now=LATER
    )
    assert kept and (assignment.priority, assignment.service, assignment.product) == (
        "P1",
        "mail",
        "anyconnect",
    )
    assignment.revise(
        priority="P1", service="mail", category="email", product=None, is_product_changed=True, now=LATER
    )
    assert assignment.product is None and assignment.updated_at == LATER


def test_an_edit_does_not_route_a_resolved_or_vendor_held_incident() -> None:
    resolved = held()
    resolved.release(T0)
    assert not resolved.revise(
        priority="P1", service="x", category="y", product=None, is_product_changed=False, now=LATER
    )
    assert resolved.priority == "P1"
    vendor = held(tier="L3")
    vendor.hand_to_vendor([ACME], {}, policy(), reason="manual", now=T0)
    assert not vendor.revise(
        priority="P1", service="x", category="y", product=None, is_product_changed=False, now=LATER
    )


def test_adopting_a_policy_whose_ladder_starts_higher_says_where_to_go() -> None:
    assignment = held()
    assert assignment.adopt(SHORT) == "L2"
    assert assignment.policy == "short"
    assert held(tier="L2").adopt(SHORT) is None
    assert held(tier="L3").adopt(policy()) is None


def test_retime_announces_only_what_the_clocks_use() -> None:
    assignment = held()
    assert assignment.retime(policy(name="other"), policy(), LATER) is None
    event = assignment.retime(policy(ack_timeout="2m"), policy(), LATER)
    assert event is not None and event.reason == "priority_change"
    assert assignment.ack_due_at == LATER + timedelta(minutes=2)
    budget = assignment.retime(policy(ladder=[{"tier": "L1", "budget": "1m"}]), policy(), LATER)
    assert budget is not None and budget.tier_budget_seconds == 60


def test_retime_leaves_a_stopped_timer_stopped() -> None:
    assignment = held()
    assignment.acknowledge(T0)
    assert assignment.retime(policy(ack_timeout="2m"), policy(), LATER) is not None
    assert assignment.ack_due_at is None
