"""The SLA monitor's settings and its policy file (deploy/config/sla.yaml)."""

from __future__ import annotations

from pydantic import Field

from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings
from tierline_sla_monitor.domain.policy import SlaConfig


class Settings(ServiceSettings):
    port: int = 8003
    sla_file: str = Field(
        default="sla.yaml", description="SLA policies and business calendars, in the config folder."
    )
    timer_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often clocks falling due are looked for."
    )
    timer_batch_size: int = Field(default=500, ge=1, description="Clocks claimed per transaction.")


def load_config(settings: Settings) -> SlaConfig:
    path = settings.config_dir / settings.sla_file
    return load_yaml(path, SlaConfig) if path.exists() else SlaConfig()
