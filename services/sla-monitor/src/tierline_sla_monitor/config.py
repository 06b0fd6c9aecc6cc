"""The SLA monitor's settings and its policy file (deploy/config/sla.yaml)."""

from __future__ import annotations

from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings
from tierline_sla_monitor.domain.policy import SlaPolicy


class Settings(ServiceSettings):
    port: int = 8003
    sla_file: str = "sla.yaml"
    timer_poll_seconds: float = 0.25
    timer_batch_size: int = 500


def load_policy(settings: Settings) -> SlaPolicy:
    path = settings.config_dir / settings.sla_file
    return load_yaml(path, SlaPolicy) if path.exists() else SlaPolicy()
