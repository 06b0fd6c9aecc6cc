"""Intake's settings (environment, TIERLINE_ prefix) and its YAML configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tierline_intake.domain.alerts import DEFAULT_SEVERITY_RULES, SeverityRule
from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8001
    priority_file: str = Field(
        default="priority.yaml", description="Impact and urgency to priority matrix, in the config folder."
    )
    knowledge_file: str = Field(
        default="knowledge.yaml", description="Runbook links per category, in the config folder."
    )
    reopen_window_seconds: float = Field(
        default=7 * 86400, gt=0, description="How long a resolved incident may reopen (seconds)."
    )
    first_contact_live_seconds: float = Field(
        default=900,
        gt=0,
        description="Reports (FCR): a phone or chat incident resolved within this many seconds of its "
        "creation (wall clock) was resolved on first contact.",
    )
    first_contact_seconds: float = Field(
        default=3600,
        gt=0,
        description="Reports (FCR): the first-contact window of email, web, api and monitoring incidents, "
        "in business seconds of their resolution SLA clock (wall clock when the SLA monitor reported none).",
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


Level = Literal["high", "medium", "low"]


class SeverityLevels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    impact: Level
    urgency: Level


class PriorityMatrix(BaseModel):
    """impact -> urgency -> priority (ITIL-style), and how monitoring severities map onto it."""

    matrix: dict[str, dict[str, str]]
    severity: dict[Literal["critical", "error", "warning", "info"], SeverityLevels] = Field(
        default_factory=dict, description="PagerDuty/Alertmanager severity -> impact and urgency"
    )

    def severity_rules(self) -> dict[str, SeverityRule]:
        rules = dict(DEFAULT_SEVERITY_RULES)
        rules.update({name: SeverityRule(s.impact, s.urgency) for name, s in self.severity.items()})
        return rules


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
