"""The router's settings and its routing policy file (deploy/config/router.yaml)."""

from __future__ import annotations

from tierline_router.domain.model import RoutingPolicy
from tierline_shared.config_files import load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8002
    routing_file: str = "router.yaml"


def load_policy(settings: Settings) -> RoutingPolicy:
    return load_yaml(settings.config_dir / settings.routing_file, RoutingPolicy)
