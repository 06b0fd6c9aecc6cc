"""What the gateway's use cases are given at start."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_shared.clock import Clock
from tierline_shared.messaging.outbox import Outbox
from tierline_vendor_gateway.config import DeliveryPolicy


@dataclass(frozen=True)
class GatewayDeps:
    outbox: Outbox
    clock: Clock
    delivery: DeliveryPolicy  # defaults every vendor may override, and the SSRF allow-list
    public_url: str
    intake_url: str = ""  # where people open the incident (links in the handoff)
