"""What the gateway's use cases are given at start (the composition root passes the settings' values)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.clock import Clock
from tierline_shared.messaging.outbox import Outbox
from tierline_vendor_gateway.domain.vendors import VendorSpec
from tierline_vendor_gateway.domain.webhook import RetryPolicy
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork


class DeliveryPolicy(RetryPolicy, Protocol):
    """The delivery section of vendors.yaml (config.DeliveryPolicy): retries, timeout, SSRF allow-list."""

    @property
    def timeout(self) -> timedelta: ...
    @property
    def allow_hosts(self) -> Sequence[str]: ...
    def for_vendor(self, vendor: VendorSpec) -> DeliveryPolicy: ...


@dataclass(frozen=True)
class GatewayDeps:
    outbox: Outbox
    clock: Clock
    delivery: DeliveryPolicy  # defaults every vendor may override, and the SSRF allow-list
    public_url: str
    intake_url: str = ""  # where people open the incident (links in the handoff)

    def unit_of_work(self, session: AsyncSession) -> GatewayUnitOfWork:
        """The use cases' view of the transaction the edge opened on ``session``."""
        return GatewayUnitOfWork(session, self.outbox)
