"""What the SLA monitor's use cases need besides the transaction."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_shared.clock import Clock
from tierline_shared.messaging.outbox import Outbox
from tierline_sla_monitor.domain.policy import ClockKind, SlaConfig

INCIDENT_CLOCKS = (ClockKind.RESPONSE.value, ClockKind.RESOLUTION.value)
VENDOR_CLOCKS = (ClockKind.VENDOR_RESPONSE.value, ClockKind.VENDOR_RESOLUTION.value)
ALL_CLOCKS = tuple(k.value for k in ClockKind)


@dataclass(frozen=True)
class SlaDeps:
    outbox: Outbox
    clock: Clock
    config: SlaConfig  # the file: fallback tier budgets
