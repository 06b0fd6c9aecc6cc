"""The match order's pure rules: placing an entry, re-applying the file, finding entries never reached.

The module lives once, in ``tierline_shared.ranking``, for every catalog; these tests cover it
with the router's queues and policies, the SLA monitor's cover its policies' use of it.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierline_router.domain.model import FILTER_UNIVERSES, PRIORITIES, EscalationPolicy, Queue, Subject
from tierline_shared import ranking
from tierline_shared.errors import InvalidInput
from tierline_shared.ranking import Entry, Placement, place, reapply, shadowers

ORDER = ["p1", "vpn", "standard"]


def _entry(name: str, **filters: list[str]) -> Entry:
    return Entry(name, {dimension: frozenset(values) for dimension, values in filters.items()})


def _refusal(error: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(e["field"], e["reason"]) for e in error.value.extensions["errors"]]


# --- placing -------------------------------------------------------------------------------------------


def test_one_of_rank_before_or_after_may_be_given_and_two_are_refused_naming_both() -> None:
    assert not Placement().is_given
    assert Placement(rank=1).is_given and Placement(before="x").is_given and Placement(after="x").is_given
    with pytest.raises(InvalidInput) as refused:
        Placement(rank=2, after="p1")
    assert _refusal(refused) == [
        ("rank", "give only one of rank, before or after"),
        ("after", "give only one of rank, before or after"),
    ]
    assert "rank and after" in refused.value.detail


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (Placement(), ["p1", "vpn", "standard", "new"]),
        (Placement(rank=1), ["new", "p1", "vpn", "standard"]),
        (Placement(rank=3), ["p1", "vpn", "new", "standard"]),
        (Placement(rank=4), ["p1", "vpn", "standard", "new"]),
        (Placement(before="standard"), ["p1", "vpn", "new", "standard"]),
        (Placement(before="p1"), ["new", "p1", "vpn", "standard"]),
        (Placement(after="p1"), ["p1", "new", "vpn", "standard"]),
        (Placement(after="standard"), ["p1", "vpn", "standard", "new"]),
    ],
)
def test_a_new_entry_goes_where_it_is_placed_and_last_when_nothing_is_said(
    placement: Placement, expected: list[str]
) -> None:
    assert place(ORDER, "new", placement, what="policy") == expected


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (Placement(), ["p1", "vpn", "standard"]),
        (Placement(rank=1), ["standard", "p1", "vpn"]),
        (Placement(rank=3), ["p1", "vpn", "standard"]),
        (Placement(before="vpn"), ["p1", "standard", "vpn"]),
        (Placement(after="p1"), ["p1", "standard", "vpn"]),
    ],
)
def test_an_existing_entry_moves_only_when_placed(placement: Placement, expected: list[str]) -> None:
    assert place(ORDER, "standard", placement, what="policy") == expected


def test_a_rank_past_the_end_is_refused_naming_the_range() -> None:
    with pytest.raises(InvalidInput) as new:
        place(ORDER, "new", Placement(rank=5), what="policy")
    assert _refusal(new) == [("rank", "must be from 1 (first) to 4 (last)")]
    with pytest.raises(InvalidInput) as existing:  # it is one of the three: 3 is already last
        place(ORDER, "vpn", Placement(rank=4), what="policy")
    assert _refusal(existing) == [("rank", "must be from 1 (first) to 3 (last)")]
    assert existing.value.extensions["errors"][0]["pointer"] == "/rank"


def test_an_unknown_or_own_neighbour_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as unknown:
        place(ORDER, "new", Placement(before="gold"), what="escalation policy")
    assert _refusal(unknown) == [("before", "no escalation policy named 'gold'")]
    with pytest.raises(InvalidInput) as itself:
        place(ORDER, "vpn", Placement(after="vpn"), what="escalation policy")
    assert _refusal(itself) == [("after", "names the entry itself")]


names = st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=7)


@given(order=names, data=st.data())
def test_placing_keeps_every_other_entry_in_its_order_and_lands_where_asked(order: list[str], data) -> None:
    name = data.draw(st.sampled_from([*order, "new"]), label="name")
    rest = [n for n in order if n != name]
    how = data.draw(st.sampled_from(["rank", "before", "after"] if rest else ["rank"]), label="how")
    if how == "rank":
        rank = data.draw(st.integers(1, len(rest) + 1), label="rank")
        placed, expected_index = Placement(rank=rank), rank - 1
    else:
        other = data.draw(st.sampled_from(rest), label="other")
        placed = Placement(**{how: other})
        expected_index = rest.index(other) + (how == "after")
    result = place(order, name, placed, what="entry")
    assert [n for n in result if n != name] == rest
    assert result.index(name) == expected_index


# --- re-applying the file ------------------------------------------------------------------------------


def test_an_unchanged_file_leaves_api_entries_where_they_were() -> None:
    current = ["gold", "p1", "vpn-fast-track", "extra", "standard", "tail"]
    assert reapply(current, ["p1", "standard"]) == current


def test_api_entries_stay_in_front_of_the_file_entry_they_preceded_when_the_file_changes() -> None:
    current = ["p1", "vpn-fast-track", "standard", "tail"]
    # the file now puts a new policy before standard and swaps p1 to the end
    assert reapply(current, ["p2", "standard", "p1"]) == ["p2", "vpn-fast-track", "standard", "p1", "tail"]
    # a file entry the API had moved gets the file's place back; the API entry keeps its successor
    assert reapply(["standard", "vpn-fast-track", "p1"], ["p1", "standard"]) == [
        "vpn-fast-track",
        "p1",
        "standard",
    ]


def test_api_entries_first_or_last_stay_first_or_last_whatever_the_file_does() -> None:
    current = ["vip", "gold", "p1", "standard", "late"]
    assert reapply(current, ["standard", "new", "p1"]) == ["vip", "gold", "standard", "new", "p1", "late"]
    # with no file entry known yet, the others keep their order after the file's
    assert reapply(["x", "y"], ["a", "b"]) == ["a", "b", "x", "y"]


@given(
    file_entries=st.lists(st.sampled_from("ABCDEF"), unique=True, max_size=6),
    api_entries=st.lists(st.sampled_from("uvwxyz"), unique=True, max_size=6),
    data=st.data(),
)
def test_reapplying_orders_the_file_as_the_file_and_keeps_api_entries_and_their_neighbours(
    file_entries: list[str], api_entries: list[str], data
) -> None:
    current = data.draw(st.permutations([*file_entries, *api_entries]), label="current")
    kept = [n for n in file_entries if data.draw(st.booleans())]  # some dropped from the file
    declared = data.draw(st.permutations([*kept, "NEW"]), label="declared")
    result = reapply(current, declared)
    assert sorted(result) == sorted({*current, *declared})
    assert [n for n in result if n in declared] == declared
    known = [n for n in current if n in declared]

    def successor(name: str, order: list[str]) -> str | None:
        return next((n for n in order[order.index(name) :] if n in declared), None)

    def anchor(name: str) -> str | None:
        """FIRST in front of every file entry known before, else the file entry following it (None: last)."""
        if known and current.index(name) < current.index(known[0]):
            return "FIRST"
        return successor(name, current)

    floating = [n for n in current if n not in declared]
    for name in floating:
        if anchor(name) == "FIRST":
            assert all(result.index(name) < result.index(n) for n in declared), name
        else:
            assert successor(name, result) == anchor(name), name
    for first, second in itertools.combinations(floating, 2):  # each group keeps its order
        if anchor(first) == anchor(second):
            assert result.index(first) < result.index(second)
    if known == [n for n in declared if n in current] and "NEW" not in current:
        assert [n for n in result if n != "NEW"] == current  # same file: nothing moved


def test_renumbering_gives_ranks_one_to_n_in_the_order() -> None:
    class Row:
        def __init__(self, name: str, rank: int) -> None:
            self.name, self.rank = name, rank

    rows = [Row("a", 0), Row("b", 10), Row("c", 20), Row("d", 30)]
    ranking.renumber(rows, ["c", "a", "b"])  # d, left out, follows
    assert [(r.name, r.rank) for r in sorted(rows, key=lambda r: r.rank)] == [
        ("c", 1),
        ("a", 2),
        ("b", 3),
        ("d", 4),
    ]


# --- entries never reached -----------------------------------------------------------------------------


def test_an_earlier_entry_without_filters_takes_everything_after_it() -> None:
    entries = [_entry("standard"), _entry("vpn-fast-track", services=["vpn"], priorities=["P2"])]
    assert shadowers(entries, 1) == ["standard"]
    assert shadowers(entries, 0) == []


@pytest.mark.parametrize(
    ("earlier", "later", "is_shadowed"),
    [
        ({"services": ["vpn"]}, {"services": ["vpn"]}, True),  # equal
        ({"services": ["vpn", "mail"]}, {"services": ["vpn"], "priorities": ["P2"]}, True),  # broader
        ({"services": ["vpn"], "priorities": ["P1"]}, {"services": ["vpn"]}, False),  # narrower on one
        ({"services": ["vpn"]}, {"services": ["vpn", "mail"]}, False),
        ({"services": ["vpn"]}, {}, False),  # the later one takes any service
        ({"priorities": list(PRIORITIES)}, {"services": ["vpn"]}, True),  # every priority is any
    ],
)
def test_an_earlier_entry_broader_or_equal_on_every_dimension_shadows_a_later_one(
    earlier: dict[str, list[str]], later: dict[str, list[str]], is_shadowed: bool
) -> None:
    entries = [_entry("early", **earlier), _entry("late", **later)]
    assert bool(shadowers(entries, 1, FILTER_UNIVERSES)) is is_shadowed


def test_earlier_entries_together_taking_everything_shadow_a_later_one() -> None:
    per_priority = [_entry(p.lower(), priorities=[p]) for p in PRIORITIES]
    catch_all = _entry("any")
    assert shadowers([*per_priority, catch_all], 4, FILTER_UNIVERSES) == ["p1", "p2", "p3", "p4"]
    assert shadowers([*per_priority[:3], catch_all], 3, FILTER_UNIVERSES) == []  # P4 reaches it
    # open-ended dimensions are never covered by listing values: some other service always exists
    by_service = [_entry("vpn", services=["vpn"]), _entry("mail", services=["mail"]), catch_all]
    assert shadowers(by_service, 2, FILTER_UNIVERSES) == []


def test_the_takers_are_exactly_the_earlier_entries_that_take_some_of_its_incidents() -> None:
    entries = [
        _entry("vpn-p1", services=["vpn"], priorities=["P1"]),
        _entry("mail", services=["mail"]),  # takes none of vpn's incidents
        _entry("desk", categories=["desk"]),
        _entry("standard"),
        _entry("vpn", services=["vpn"]),
    ]
    assert shadowers(entries, 4, FILTER_UNIVERSES) == ["vpn-p1", "desk", "standard"]


def test_past_the_step_budget_only_single_earlier_entries_are_compared() -> None:
    per_priority = [_entry(p.lower(), priorities=[p]) for p in PRIORITIES]
    entries = [*per_priority, _entry("any")]
    assert shadowers(entries, 4, FILTER_UNIVERSES, max_steps=2) == []  # together they would
    assert shadowers([*entries, _entry("late")], 5, FILTER_UNIVERSES, max_steps=2) == ["any"]


def test_warnings_for_a_written_entry_say_placed_last_shadowed_and_shadows() -> None:
    entries = [_entry("p1", priorities=["P1"]), _entry("standard"), _entry("vpn", services=["vpn"])]
    warnings = ranking.placement_warnings(
        entries, "vpn", FILTER_UNIVERSES, what="escalation policy", is_placed_last=True
    )
    assert [(w.code, w.entries) for w in warnings] == [
        ("placed_last", ()),
        ("shadowed", ("p1", "standard")),
    ]
    assert "placed last (rank 3)" in warnings[0].detail
    assert warnings[1].detail == (
        "Escalation policy 'vpn' is never reached: every incident it matches is taken first by "
        "'p1' (rank 1), 'standard' (rank 2). Place it before 'p1' to have it take them all, "
        "or narrow those entries' filters."
    )
    first = [_entry("standard"), _entry("p1", priorities=["P1"]), _entry("vpn", services=["vpn"])]
    shadows = ranking.placement_warnings(first, "standard", what="escalation policy", is_placed_last=False)
    assert [(w.code, w.entries) for w in shadows] == [("shadows", ("p1", "vpn"))]
    assert shadows[0].detail == (
        "Every incident 'p1' (rank 2), 'vpn' (rank 3) would match is taken first by 'standard' (rank 1), "
        "so they are never reached."
    )
    shared = [_entry("p1", priorities=["P1"]), _entry("p2-4", priorities=["P2", "P3", "P4"]), _entry("any")]
    [together] = ranking.placement_warnings(
        shared, "p1", FILTER_UNIVERSES, what="SLA policy", is_placed_last=False
    )
    assert (together.code, together.entries) == ("shadows", ("any",))
    assert "taken first by 'p1' (rank 1) and other earlier entries" in together.detail
    review = ranking.review(first, what="L2 queue")
    assert {name: [w.code for w in notes] for name, notes in review.items()} == {
        "standard": [],
        "p1": ["shadowed"],
        "vpn": ["shadowed"],
    }
    assert review["p1"][0].detail.startswith("L2 queue 'p1' is never reached")


# --- against the router's own matching -----------------------------------------------------------------

LABELS = ["a", "b", "c"]
labels = st.lists(st.sampled_from(LABELS), unique=True, max_size=2)
priorities = st.lists(st.sampled_from(PRIORITIES), unique=True, max_size=4)
# every subject the filters can tell apart: listed labels, one nobody lists, no product at all
SUBJECTS = [
    Subject(service=s, category=c, priority=p, product=d)
    for s in [*LABELS, "other"]
    for c in [*LABELS, "other"]
    for p in PRIORITIES
    for d in [*LABELS, "other", None]
]


@given(
    st.lists(
        st.fixed_dictionaries(
            {"services": labels, "categories": labels, "products": labels, "priorities": priorities}
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_queue_is_reported_never_reached_exactly_when_no_incident_reaches_it(filters) -> None:
    queues = [Queue(name=f"q{i}", tier="L2", **f) for i, f in enumerate(filters)]
    entries = [Entry(q.name, q.filters) for q in queues]
    for index, queue in enumerate(queues):
        reached = any(next(q for q in queues if q.matches(s)) is queue for s in SUBJECTS if queue.matches(s))
        assert (not shadowers(entries, index, FILTER_UNIVERSES)) is reached, queue


@given(
    st.lists(
        st.fixed_dictionaries({"services": labels, "priorities": priorities}),
        min_size=1,
        max_size=6,
    )
)
def test_a_policy_is_reported_never_reached_exactly_when_policy_for_never_picks_it(filters) -> None:
    ladder = [{"tier": "L1"}]
    policies = [EscalationPolicy(name=f"p{i}", ladder=ladder, **f) for i, f in enumerate(filters)]
    entries = [Entry(p.name, p.filters) for p in policies]
    for index, policy in enumerate(policies):
        takers = shadowers(entries, index, FILTER_UNIVERSES)
        picked = {next(p for p in policies if p.matches(s)).name for s in SUBJECTS if policy.matches(s)}
        assert (policy.name in picked) is (not takers)
        if takers:
            assert picked == set(takers)  # exactly the policies that take its incidents
