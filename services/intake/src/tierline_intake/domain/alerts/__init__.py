"""From monitoring alerts to incident signals (pure: plain values in, plain values out).

Two wire formats arrive here, already validated at the edge and handed over as plain dicts with
the senders' own key names, so this module depends on neither the HTTP layer nor pydantic:

* a PagerDuty Events API v2 event (``PagerDutyEvent.model_dump(by_alias=True)``), and
* a Prometheus Alertmanager webhook notification, version "4"
  (``AlertmanagerWebhook.model_dump(by_alias=True)``).

Both become :class:`AlertSignal` values: what to do (trigger, acknowledge, resolve), to which
alert (``dedup_key``) and, for a trigger, the incident's fields, already within intake's rules
(title 1..200 characters, description up to 20,000, service and category names of
``[A-Za-z0-9][A-Za-z0-9._-]*`` up to 120 characters). The service layer turns a trigger into
``CreateIncident(channel="monitoring", ...)`` and the follow-ups into acknowledge/resolve of
the open incident holding that ``dedup_key``.

Severity becomes impact and urgency through :class:`SeverityRule` values; intake's priority
matrix then gives the priority, as for any other incident.
"""

from tierline_intake.domain.alerts.alertmanager import (
    alertmanager_severity,
    alertmanager_signals,
    labels_fingerprint,
)
from tierline_intake.domain.alerts.pagerduty import pagerduty_signal
from tierline_intake.domain.alerts.signal import (
    ACTIONS,
    DEFAULT_SEVERITY_RULES,
    FALLBACK_SEVERITY,
    SEVERITY_ALIASES,
    Action,
    AlertSignal,
    SeverityRule,
)
from tierline_intake.domain.alerts.text import slug, title_from

__all__ = [
    "ACTIONS",
    "DEFAULT_SEVERITY_RULES",
    "FALLBACK_SEVERITY",
    "SEVERITY_ALIASES",
    "Action",
    "AlertSignal",
    "SeverityRule",
    "alertmanager_severity",
    "alertmanager_signals",
    "labels_fingerprint",
    "pagerduty_signal",
    "slug",
    "title_from",
]
