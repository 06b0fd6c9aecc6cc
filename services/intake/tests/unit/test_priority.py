from pathlib import Path

import pytest

from tierline_intake.config import DEFAULT_MATRIX, PriorityMatrix, Settings, load_priority_matrix
from tierline_intake.domain.alerts import DEFAULT_SEVERITY_RULES, SeverityRule
from tierline_intake.domain.priority import LEVELS, decide_priority, validate_matrix
from tierline_shared.errors import InvalidInput

MATRIX = DEFAULT_MATRIX.matrix


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("high", "high", "P1"),
        ("high", "medium", "P2"),
        ("medium", "high", "P2"),
        ("medium", "medium", "P3"),
        ("low", "high", "P3"),
        ("high", "low", "P3"),
        ("medium", "low", "P4"),
        ("low", "low", "P4"),
    ],
)
def test_matrix_derives_priority(impact: str, urgency: str, expected: str) -> None:
    decision = decide_priority(MATRIX, impact=impact, urgency=urgency, explicit=None)
    assert (decision.priority, decision.source) == (expected, "matrix")


def test_higher_impact_never_lowers_priority() -> None:
    rank = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
    for urgency in LEVELS:
        ranks = [rank[MATRIX[impact][urgency]] for impact in LEVELS]  # high, medium, low
        assert ranks == sorted(ranks)


def test_explicit_priority_wins_and_is_recorded() -> None:
    decision = decide_priority(MATRIX, impact="low", urgency="low", explicit="P1")
    assert (decision.priority, decision.source) == ("P1", "explicit")


def test_missing_impact_and_urgency_names_both_fields() -> None:
    with pytest.raises(InvalidInput) as caught:
        decide_priority(MATRIX, impact=None, urgency=None, explicit=None)
    assert {e["field"] for e in caught.value.extensions["errors"]} == {"impact", "urgency"}


def test_incomplete_matrix_is_rejected() -> None:
    broken = {k: dict(v) for k, v in MATRIX.items()}
    del broken["low"]["medium"]
    with pytest.raises(ValueError, match="impact=low urgency=medium"):
        validate_matrix(broken)


def test_shipped_priority_file_matches_the_default() -> None:
    config_dir = Path(__file__).resolve().parents[4] / "deploy" / "config"
    shipped = load_priority_matrix(Settings(config_dir=config_dir))
    assert isinstance(shipped, PriorityMatrix)
    assert shipped.matrix == DEFAULT_MATRIX.matrix
    assert shipped.severity_rules() == dict(DEFAULT_SEVERITY_RULES)


def test_severity_rules_are_configurable() -> None:
    configured = PriorityMatrix.model_validate(
        {"matrix": DEFAULT_MATRIX.matrix, "severity": {"warning": {"impact": "high", "urgency": "low"}}}
    )
    rules = configured.severity_rules()
    assert rules["warning"] == SeverityRule("high", "low")
    assert rules["critical"] == DEFAULT_SEVERITY_RULES["critical"]
    with pytest.raises(ValueError):
        PriorityMatrix.model_validate(
            {"matrix": {}, "severity": {"fatal": {"impact": "high", "urgency": "high"}}}
        )
