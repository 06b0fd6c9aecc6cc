"""The SLA monitor's settings and its policy file (deploy/config/sla.yaml)."""

from __future__ import annotations

from pydantic import Field

from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings
from tierline_sla_monitor.domain.policy import SlaConfig


class Settings(ServiceSettings):
    port: int = 8003
    sla_file: str = "sla.yaml"
    timer_poll_seconds: float = Field(default=0.25, gt=0)
    timer_batch_size: int = Field(default=500, ge=1)


def load_config(settings: Settings) -> SlaConfig:
    path = settings.config_dir / settings.sla_file
    return load_yaml(path, SlaConfig) if path.exists() else SlaConfig()
