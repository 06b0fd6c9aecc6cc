"""The router's settings and its policy file (deploy/config/router.yaml)."""

from __future__ import annotations

from pydantic import Field

from tierline_router.domain.model import RoutingConfig
from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8002
    routing_file: str = Field(
        default="router.yaml",
        description="Agents, queues, escalation policies and on-call schedules, in the config folder.",
    )
    ack_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often unacknowledged incidents are checked."
    )
    ack_batch_size: int = Field(
        default=200, ge=1, description="Acknowledgement timeouts handled per transaction."
    )
    shift_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often on-call schedules are checked for a shift change."
    )
    shift_batch_size: int = Field(
        default=50, ge=1, description="Schedules looked at per transaction by the shift-change worker."
    )
    gauge_refresh_seconds: float = Field(
        default=5.0, gt=0, description="How often the queue gauges of /metrics are recomputed."
    )


def load_routing(settings: Settings) -> RoutingConfig:
    return load_yaml(settings.config_dir / settings.routing_file, RoutingConfig)
