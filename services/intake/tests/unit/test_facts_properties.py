"""Property-based tests of the facts derived from any timeline (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tierline_intake.domain.facts import Facts, FirstContactWindows, IncidentState, TimelineLine, derive

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WINDOWS = FirstContactWindows()
TIERS = ("L1", "L2", "L3", "L4")
AGENTS = (None, "bob", "carol")
QUEUES = ("desk", "network")
CLOCKS = ("response", "resolution", "tier", "vendor_response", "vendor_resolution")
HOLDS = ("on_hold", "resumed")
PLAIN = (
    "acknowledged",
    "resolved",
    "reopened",
    "closed",
    "note",
    "vendor_case_opened",
    "vendor_case_rejected",
)
MOVES = ("assigned", "escalated", "de_escalated", "sla_met", "sla_breached")


def _data(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "assigned":
        return st.fixed_dictionaries(
            {
                "tier": st.sampled_from(TIERS),
                "queue": st.sampled_from(QUEUES),
                "assignee": st.sampled_from(AGENTS),
            }
        )
    if kind in ("escalated", "de_escalated"):
        return st.fixed_dictionaries(
            {
                "from_tier": st.sampled_from(TIERS),
                "to_tier": st.sampled_from(TIERS),
                "direction": st.just("up" if kind == "escalated" else "down"),
                "queue": st.sampled_from((None, *QUEUES)),
                "assignee": st.sampled_from(AGENTS),
                "vendor": st.sampled_from((None, "acme")),
            }
        )
    if kind in ("sla_met", "sla_breached"):
        return st.fixed_dictionaries(
            {"clock": st.sampled_from(CLOCKS)},
            optional={"elapsed_seconds": st.integers(min_value=0, max_value=10_000)},
        )
    return st.just({})


@st.composite
def timelines(draw: st.DrawFn, *, holds: bool = True) -> list[TimelineLine]:
    """Lines at whole seconds (ties allowed) with distinct seqs in any order of writing."""
    kinds = draw(st.lists(st.sampled_from((*MOVES, *PLAIN, *(HOLDS if holds else ()))), max_size=25))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=3_600), min_size=len(kinds), max_size=len(kinds)))
    seqs = draw(st.permutations(range(len(kinds))))
    lines, moment = [], T0
    for kind, gap, seq in zip(kinds, gaps, seqs, strict=True):
        moment += timedelta(seconds=gap)
        lines.append(TimelineLine(kind, moment, seq, draw(_data(kind))))
    return lines


@st.composite
def incidents(draw: st.DrawFn) -> IncidentState:
    status = draw(st.sampled_from(("open", "acknowledged", "on_hold", "resolved", "closed")))
    resolved_at = draw(
        st.none() | st.integers(min_value=0, max_value=100_000).map(lambda s: T0 + timedelta(seconds=s))
    )
    return IncidentState(
        id=uuid.uuid4(),
        created_at=T0,
        service="mail",
        category="access",
        priority="P3",
        channel=draw(st.sampled_from(("phone", "chat", "email", "web", "api", "monitoring"))),
        type="incident",
        status=status,
        tier=draw(st.sampled_from((None, *TIERS))),
        queue=None,
        assignee=draw(st.sampled_from(AGENTS)),
        vendor=None,
        resolved_at=resolved_at,
        reopen_count=draw(st.integers(min_value=0, max_value=3)),
        csat_score=None,
        knowledge_article_used=draw(st.sampled_from((None, "KB-1"))),
    )


def _now(lines: list[TimelineLine]) -> datetime:
    return max((line.at for line in lines), default=T0) + timedelta(hours=1)


def _derive(state: IncidentState, lines: list[TimelineLine]) -> Facts:
    return derive(state, lines, WINDOWS, now=_now(lines))


@given(incidents(), timelines())
def test_stint_hold_and_handle_seconds_are_never_negative_and_handle_is_the_span_less_holds(
    state: IncidentState, lines: list[TimelineLine]
) -> None:
    result = _derive(state, lines)
    for stint in result.stints:
        end = stint.ended_at or _now(lines)
        length = (end - stint.started_at).total_seconds()
        assert 0 <= stint.hold_seconds <= length
        if stint.handle_seconds is not None:
            assert stint.agent is not None and stint.ended_by in ("resolved", "escalated", "de_escalated")
            assert stint.handle_seconds == length - stint.hold_seconds >= 0
    assert result.hold_seconds >= sum(stint.hold_seconds for stint in result.stints) >= 0


@given(incidents(), timelines(holds=False), st.data())
def test_adding_a_hold_lowers_handle_time_by_exactly_its_overlap_with_each_stint(
    state: IncidentState, lines: list[TimelineLine], data: st.DataObject
) -> None:
    now = _now(lines)
    horizon = int((now - T0).total_seconds())
    start, end = sorted(data.draw(st.lists(st.integers(0, horizon - 1), min_size=2, max_size=2, unique=True)))
    # Half a second off every line's time: no tie with any line decides the hold's bounds.
    hold_from, hold_to = (T0 + timedelta(seconds=s, milliseconds=500) for s in (start, end))
    # A resolution or closure in between ends the hold there; the later ``resumed`` then says nothing.
    ends = [
        line.at for line in lines if line.kind in ("resolved", "closed") and hold_from < line.at < hold_to
    ]
    effective_to = min(ends, default=hold_to)
    seq = len(lines)
    held = [*lines, TimelineLine("on_hold", hold_from, seq), TimelineLine("resumed", hold_to, seq + 1)]

    before, after = derive(state, lines, WINDOWS, now=now), derive(state, held, WINDOWS, now=now)

    assert after.hold_seconds - before.hold_seconds == (effective_to - hold_from).total_seconds()
    assert len(before.stints) == len(after.stints)
    for old, new in zip(before.stints, after.stints, strict=True):
        stint_end = old.ended_at or now
        overlap = max((min(effective_to, stint_end) - max(hold_from, old.started_at)).total_seconds(), 0.0)
        assert (new.tier, new.agent, new.started_at, new.ended_at) == (
            old.tier,
            old.agent,
            old.started_at,
            old.ended_at,
        )
        assert new.hold_seconds == old.hold_seconds + overlap
        if old.handle_seconds is None:
            assert new.handle_seconds is None
        else:
            assert new.handle_seconds == old.handle_seconds - overlap


@given(incidents(), timelines())
def test_the_booleans_and_lists_agree_with_each_other(
    state: IncidentState, lines: list[TimelineLine]
) -> None:
    result = _derive(state, lines)
    tiers = [stint.tier for stint in result.stints]
    assert result.tiers_held == list(dict.fromkeys(tiers))
    assert result.l1_only == set(result.tiers_held).issubset({"L1"})
    assert set(result.escalated_from) <= set(result.tiers_held)
    assert len(set(result.escalated_from)) == len(result.escalated_from)
    assert (result.first_contact is None) == (result.resolved_at is None)
    assert not result.knowledge_linked or result.resolved_at is not None
    assert result.reassignments == sum(stint.ended_by == "reassigned" for stint in result.stints)
    handled = [stint.handle_seconds for stint in result.stints if stint.handle_seconds is not None]
    assert (result.handled_seconds, result.handled_stints) == (sum(handled), len(handled))  # AHT's parts
    assert [stint.n for stint in result.stints] == list(range(1, len(result.stints) + 1))
    # One holder at a time: each stint but the last has ended, no later than the next starts.
    for earlier, later in zip(result.stints, result.stints[1:], strict=False):
        assert earlier.ended_at is not None and earlier.ended_at <= later.started_at


@given(incidents(), timelines(), st.randoms(use_true_random=False))
def test_derive_does_not_depend_on_the_order_lines_are_given_in(
    state: IncidentState, lines: list[TimelineLine], random: Any
) -> None:
    shuffled = list(lines)
    random.shuffle(shuffled)
    assert _derive(state, shuffled) == _derive(state, lines)
