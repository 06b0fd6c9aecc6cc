"""Unit and property tests of who in a queue takes the next incident."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_router.domain.model import Queue, Subject
from tierline_router.domain.strategies import Candidate, Pick, pick_agent

STRATEGIES = ("round_robin", "least_loaded", "skills")
TAGS = ("vpn", "network", "mail")
REQUIRED = ("network", "oncall")
SUBJECT = Subject(service="vpn", category="network", priority="P2")


def _queue(strategy: str = "round_robin", skills: Sequence[str] = ()) -> Queue:
    return Queue(name="q", tier="L2", strategy=strategy, skills=list(skills))


def _member(name: str, *skills: str, load: int = 0, capacity: int = 5, available: bool = True) -> Candidate:
    return Candidate(name=name, skills=frozenset(skills), capacity=capacity, load=load, available=available)


def _ratio(c: Candidate) -> Fraction:
    return Fraction(c.load, c.capacity)


def _eligible(queue: Queue, members: Sequence[Candidate]) -> list[Candidate]:
    """The strategies' eligibility, restated from the rule rather than from Candidate.is_eligible."""
    return [m for m in members if m.available and m.load < m.capacity and set(queue.skills) <= set(m.skills)]


def _picks(queue: Queue, members: Sequence[Candidate], position: int, rounds: int) -> Counter[str | None]:
    """Pick ``rounds`` times with fixed members, feeding each pick's position into the next."""
    counts: Counter[str | None] = Counter()
    for _ in range(rounds):
        pick = pick_agent(queue, members, position, SUBJECT)
        counts[pick.agent] += 1
        position = pick.position
    return counts


def _spread(counts: Counter[str | None], names: Sequence[str]) -> int:
    return max(counts[n] for n in names) - min(counts[n] for n in names)


# -- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_empty_queue_picks_nobody_and_keeps_its_position(strategy: str) -> None:
    assert pick_agent(_queue(strategy), [], 7, SUBJECT) == Pick(None, 7)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nobody_eligible_picks_nobody(strategy: str) -> None:
    members = [_member("away", available=False), _member("full", load=5), _member("unskilled")]
    assert pick_agent(_queue(strategy, ["network"]), members, 4, SUBJECT) == Pick(None, 1)


def test_round_robin_starts_at_the_position_and_skips_ineligible_members() -> None:
    members = [_member("a"), _member("b", available=False), _member("c")]
    assert pick_agent(_queue(), members, 0, SUBJECT) == Pick("a", 1)
    assert pick_agent(_queue(), members, 1, SUBJECT) == Pick("c", 0)
    assert pick_agent(_queue(), members, -1, SUBJECT) == Pick("c", 0)


def test_least_loaded_compares_load_to_capacity_not_raw_load() -> None:
    members = [_member("small", load=1, capacity=2), _member("big", load=3, capacity=8)]
    assert pick_agent(_queue("least_loaded"), members, 0, SUBJECT) == Pick("big", 0)


def test_least_loaded_ties_go_to_the_lower_load_then_the_rotation() -> None:
    members = [
        _member("a", load=2, capacity=4),
        _member("b", load=1, capacity=2),
        _member("c", load=1, capacity=2),
    ]
    assert pick_agent(_queue("least_loaded"), members, 0, SUBJECT).agent == "b"
    assert pick_agent(_queue("least_loaded"), members, 2, SUBJECT) == Pick("c", 0)


def test_skills_prefers_the_best_match_then_the_least_loaded() -> None:
    members = [
        _member("generalist", "mail"),
        _member("net", "network", load=3),
        _member("vpn-net", "vpn", "network", load=4),
        _member("vpn-net-idle", "vpn", "network", load=1),
    ]
    assert pick_agent(_queue("skills"), members, 0, SUBJECT) == Pick("vpn-net-idle", 0)
    assert pick_agent(_queue("skills"), members[:3], 0, SUBJECT).agent == "vpn-net"


# -- 1. round-robin evenness -----------------------------------------------------------------


@given(k=st.integers(1, 8), rounds=st.integers(0, 200), start=st.integers(-1000, 1000))
def test_round_robin_spreads_picks_evenly_from_any_start(k: int, rounds: int, start: int) -> None:
    names = [f"agent{i}" for i in range(k)]
    counts = _picks(_queue(), [_member(n, capacity=1000) for n in names], start, rounds)
    assert None not in counts
    assert sum(counts.values()) == rounds
    assert _spread(counts, names) <= 1


@given(
    availability=st.lists(st.booleans(), min_size=1, max_size=8).filter(any),
    rounds=st.integers(0, 100),
    start=st.integers(-50, 50),
)
def test_round_robin_is_even_among_the_eligible_when_some_are_away(
    availability: list[bool], rounds: int, start: int
) -> None:
    members = [_member(f"agent{i}", available=up) for i, up in enumerate(availability)]
    counts = _picks(_queue(), members, start, rounds)
    on_shift = [m.name for m in members if m.available]
    assert set(counts) <= set(on_shift)
    assert _spread(counts, on_shift) <= 1


# -- 2. least-loaded under a random workload -------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.just(0)),
        st.tuples(st.just("release"), st.integers(0, 1000)),
        st.tuples(st.just("flip"), st.integers(0, 1000)),
    ),
    max_size=60,
)
# (capacity, incidents already held, skills, on shift); capacities up to 8 so that a lower load can
# still be a higher ratio (1/2 against 2/5).
members_spec = st.lists(
    st.tuples(st.integers(1, 8), st.integers(0, 8), st.sets(st.sampled_from(REQUIRED)), st.booleans()),
    min_size=1,
    max_size=6,
)


@given(
    spec=members_spec,
    required=st.sets(st.sampled_from(REQUIRED), max_size=1),
    ops=operations,
    start=st.integers(0, 10),
)
def test_least_loaded_never_overfills_anyone_and_always_picks_a_lowest_ratio(
    spec: list[tuple[int, int, set[str], bool]], required: set[str], ops: list[tuple[str, int]], start: int
) -> None:
    queue = _queue("least_loaded", sorted(required))
    names = [f"agent{i}" for i in range(len(spec))]
    capacity = {n: cap for n, (cap, _, _, _) in zip(names, spec, strict=True)}
    load = {n: min(held, cap) for n, (cap, held, _, _) in zip(names, spec, strict=True)}
    skills = {n: frozenset(s) for n, (_, _, s, _) in zip(names, spec, strict=True)}
    available = {n: up for n, (_, _, _, up) in zip(names, spec, strict=True)}
    held = [n for n in names for _ in range(load[n])]  # one entry per open incident, naming its assignee
    position = start
    for op, arg in ops:
        if op == "assign":
            members = [Candidate(n, skills[n], capacity[n], load[n], available[n]) for n in names]
            eligible = _eligible(queue, members)
            pick = pick_agent(queue, members, position, SUBJECT)
            if pick.agent is None:
                assert not eligible
            else:
                assert pick.agent in {m.name for m in eligible}
                chosen = next(m for m in members if m.name == pick.agent)
                assert _ratio(chosen) == min(_ratio(m) for m in eligible)
                load[pick.agent] += 1
                held.append(pick.agent)
            assert 0 <= pick.position < len(names)
            position = pick.position
        elif op == "release" and held:
            load[held.pop(arg % len(held))] -= 1
        elif op == "flip":
            name = names[arg % len(names)]
            available[name] = not available[name]
        assert all(0 <= load[n] <= capacity[n] for n in names), (load, capacity)


# -- 3. eligibility and the skills strategy --------------------------------------------------

candidates = st.lists(
    st.builds(
        lambda skills, load, capacity, available: (skills, min(load, capacity), capacity, available),
        st.sets(st.sampled_from(TAGS + REQUIRED)),
        st.integers(0, 4),
        st.integers(1, 5),
        st.booleans(),
    ),
    max_size=8,
)
subjects = st.builds(
    Subject,
    service=st.sampled_from(TAGS),
    category=st.sampled_from(TAGS),
    priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
    product=st.none() | st.sampled_from([*TAGS, "x1"]),
)


def _members(raw: list[tuple[set[str], int, int, bool]]) -> list[Candidate]:
    return [
        Candidate(f"agent{i}", frozenset(s), capacity, load, up)
        for i, (s, load, capacity, up) in enumerate(raw)
    ]


@given(
    strategy=st.sampled_from(STRATEGIES),
    raw=candidates,
    required=st.sets(st.sampled_from(REQUIRED)),
    subject=subjects,
    position=st.integers(-20, 20),
)
def test_no_strategy_picks_someone_away_full_or_lacking_required_skills(
    strategy: str,
    raw: list[tuple[set[str], int, int, bool]],
    required: set[str],
    subject: Subject,
    position: int,
) -> None:
    queue, members = _queue(strategy, sorted(required)), _members(raw)
    eligible = {m.name for m in _eligible(queue, members)}
    pick = pick_agent(queue, members, position, subject)
    assert (pick.agent is None) is not eligible
    assert pick.agent is None or pick.agent in eligible


@given(
    raw=candidates,
    required=st.sets(st.sampled_from(REQUIRED), max_size=1),
    subject=subjects,
    position=st.integers(0, 20),
)
def test_skills_picks_a_best_match_and_among_those_a_least_loaded(
    raw: list[tuple[set[str], int, int, bool]], required: set[str], subject: Subject, position: int
) -> None:
    queue, members = _queue("skills", sorted(required)), _members(raw)
    pick = pick_agent(queue, members, position, subject)
    eligible = _eligible(queue, members)
    if pick.agent is None:
        assert not eligible
        return
    chosen = next(m for m in members if m.name == pick.agent)
    tags = {t for t in (subject.service, subject.category, subject.product) if t}
    best = max(len(tags & m.skills) for m in eligible)
    assert len(tags & chosen.skills) == best
    assert _ratio(chosen) == min(_ratio(m) for m in eligible if len(tags & m.skills) == best)


# -- 4. rotation breaks ties -----------------------------------------------------------------


@given(
    strategy=st.sampled_from(["least_loaded", "skills"]),
    k=st.integers(1, 8),
    capacity=st.integers(1, 10),
    data=st.data(),
    rounds=st.integers(0, 120),
    start=st.integers(-100, 100),
)
def test_equal_candidates_take_turns_under_every_strategy(
    strategy: str, k: int, capacity: int, data: st.DataObject, rounds: int, start: int
) -> None:
    load = data.draw(st.integers(0, capacity - 1), label="load")
    names = [f"agent{i}" for i in range(k)]
    members = [_member(n, "network", load=load, capacity=capacity) for n in names]
    counts = _picks(_queue(strategy), members, start, rounds)
    assert None not in counts
    assert _spread(counts, names) <= 1
