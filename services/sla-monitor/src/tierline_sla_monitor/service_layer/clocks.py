"""The SLA monitor's clock use cases, one import away: start, pause, resume, re-target and stop clocks.

Clocks are ``domain.clock.Clock`` aggregates kept in PostgreSQL. Each banks the business time
it has run and carries its due time and the moment it next needs a look (``fire_at``: a
warning or the due time), so the poller (timers.py) claims only what is due.

Every use case takes the transaction's ``SlaUnitOfWork`` (the edge opens and commits it) and
the service's ``SlaDeps``; they live by concern in incident_clocks.py, tier_clocks.py and
vendor_clocks.py, with the steps they share in steps.py.
"""

from __future__ import annotations

from tierline_sla_monitor.service_layer.deps import INCIDENT_CLOCKS, VENDOR_CLOCKS, SlaDeps
from tierline_sla_monitor.service_layer.incident_clocks import (
    pause_for_hold,
    recalculate,
    restart_after_reopen,
    resume,
    start_incident_clocks,
    stop_all_clocks,
    stop_response_clock,
)
from tierline_sla_monitor.service_layer.tier_clocks import restart_tier_clock
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork
from tierline_sla_monitor.service_layer.vendor_clocks import (
    cancel_vendor_clocks,
    start_vendor_clocks,
    stop_vendor_clocks,
)

__all__ = [
    "INCIDENT_CLOCKS",
    "VENDOR_CLOCKS",
    "SlaDeps",
    "SlaUnitOfWork",
    "cancel_vendor_clocks",
    "pause_for_hold",
    "recalculate",
    "restart_after_reopen",
    "restart_tier_clock",
    "resume",
    "start_incident_clocks",
    "start_vendor_clocks",
    "stop_all_clocks",
    "stop_response_clock",
    "stop_vendor_clocks",
]
