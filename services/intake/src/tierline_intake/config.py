"""Intake's settings (environment, TIERLINE_ prefix) and its YAML configuration."""

from __future__ import annotations

from pydantic import BaseModel

from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
    priority_file: str = "priority.yaml"


class PriorityMatrix(BaseModel):
    """impact -> urgency -> priority (ITIL-style)."""

    matrix: dict[str, dict[str, str]]


DEFAULT_MATRIX = PriorityMatrix(
    matrix={
        "high": {"high": "P1", "medium": "P2", "low": "P3"},
        "medium": {"high": "P2", "medium": "P3", "low": "P4"},
        "low": {"high": "P3", "medium": "P4", "low": "P4"},
    }
)


def load_priority_matrix(settings: Settings) -> PriorityMatrix:
    path = settings.config_dir / settings.priority_file
    return load_yaml(path, PriorityMatrix) if path.exists() else DEFAULT_MATRIX
