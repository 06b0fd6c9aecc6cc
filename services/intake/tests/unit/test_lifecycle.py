import pytest

from tierline_intake.domain.lifecycle import (
    IllegalTransition,
    Status,
    can_transition,
    check_transition,
    is_open,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.OPEN, Status.ACKNOWLEDGED),
        (Status.OPEN, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Status.RESOLVED),
    ],
)
def test_allowed_transitions(current: Status, target: Status) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.ACKNOWLEDGED, Status.ACKNOWLEDGED),
        (Status.ACKNOWLEDGED, Status.OPEN),
        (Status.RESOLVED, Status.RESOLVED),
        (Status.RESOLVED, Status.ACKNOWLEDGED),
        (Status.OPEN, Status.OPEN),
    ],
)
def test_illegal_transitions_are_conflicts_naming_both_states(current: Status, target: Status) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert caught.value.status == 409
    assert caught.value.extensions == {"current_status": current.value, "requested_status": target.value}


def test_resolved_and_closed_are_not_open() -> None:
    assert [s for s in Status if not is_open(s)] == [Status.RESOLVED, Status.CLOSED]
