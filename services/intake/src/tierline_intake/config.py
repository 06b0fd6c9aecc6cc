"""Intake's settings (environment, TIERLINE_ prefix) and its YAML configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
    priority_file: str = "priority.yaml"
    knowledge_file: str = "knowledge.yaml"
    reopen_window_seconds: float = Field(
        default=7 * 86400, gt=0, description="How long a resolved incident may reopen"
    )


class KnowledgeLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    url: str = Field(min_length=1)


class KnowledgeBase(BaseModel):
    """category -> runbook / knowledge-base links attached to new incidents for L1."""

    model_config = ConfigDict(extra="forbid")
    categories: dict[str, list[KnowledgeLink]] = Field(default_factory=dict)


def load_knowledge(settings: Settings) -> dict[str, list[dict[str, str]]]:
    path = settings.config_dir / settings.knowledge_file
    if not path.exists():
        return {}
    kb = load_yaml(path, KnowledgeBase)
    return {category: [link.model_dump() for link in links] for category, links in kb.categories.items()}


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
