"""A PagerDuty Events API v2 event (``PagerDutyEvent.model_dump(by_alias=True)``) as an alert signal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tierline_intake.domain.alerts.signal import (
    ACTIONS,
    DEFAULT_CATEGORY,
    DEFAULT_SEVERITY_RULES,
    FALLBACK_SEVERITY,
    AlertSignal,
    SeverityRule,
    severity_rule,
)
from tierline_intake.domain.alerts.text import (
    block,
    description_from,
    jsonable,
    one_line,
    render_value,
    reporter_from,
    slug,
    title_from,
)
from tierline_shared.text import storable


def pagerduty_signal(
    event: Mapping[str, Any],
    *,
    integration_name: str,
    default_service: str,
    rules: Mapping[str, SeverityRule] = DEFAULT_SEVERITY_RULES,
    new_dedup_key: Callable[[], str],
) -> AlertSignal:
    """The signal of one validated PagerDuty event (plain dict, PagerDuty's key names).

    * ``service`` is always the integration's ``default_service``: in PagerDuty the routing key
      picks the service, and ``payload.component`` names a part of the *source* machine
      (``postgres``, ``eth0``), not a service.
    * ``category`` is ``payload.class``, else ``payload.group``, slugged, else ``"alert"``.
    * ``title`` is ``payload.summary`` on one line, clipped to 200 characters; the description
      keeps the full summary and the other payload fields, custom details and links.
    * ``reporter`` is ``payload.source``; ``dedup_key`` is the event's, or ``new_dedup_key()``
      for a trigger without one.
    * ``details`` keeps the raw payload fields (JSON-ready) for the record.
    """
    action = event.get("event_action")
    if action not in ACTIONS:
        raise ValueError(f"unknown event_action {action!r}")
    given_key = event.get("dedup_key")
    dedup_key = given_key if isinstance(given_key, str) and given_key.strip() else None
    context = {
        "format": "pagerduty-events-v2",
        "integration": integration_name,
        "client": event.get("client"),
        "client_url": event.get("client_url"),
        "links": jsonable(event.get("links") or []),
        "images": jsonable(event.get("images") or []),
    }

    if action != "trigger":
        if dedup_key is None:
            raise ValueError(f"a PagerDuty {action} event needs a dedup_key")
        return AlertSignal(
            action=action,
            dedup_key=dedup_key,
            title=title_from(f"{action.capitalize()} alert {dedup_key}"),
            description="",
            service=default_service,
            category=DEFAULT_CATEGORY,
            impact=None,
            urgency=None,
            reporter=reporter_from(event.get("client"), f"pagerduty/{integration_name}"),
            details=context,
        )

    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        raise ValueError("a PagerDuty trigger event needs a payload")
    severity = str(payload.get("severity") or FALLBACK_SEVERITY)
    rule = severity_rule(rules, severity)
    summary = storable(payload.get("summary"))
    component, group, klass = payload.get("component"), payload.get("group"), payload.get("class")
    timestamp = jsonable(payload.get("timestamp"))
    custom = payload.get("custom_details")

    facts = [
        f"{label}: {one_line(value)}"
        for label, value in (
            ("Source", payload.get("source")),
            ("Severity", severity),
            ("Component", component),
            ("Group", group),
            ("Class", klass),
            ("Timestamp", timestamp),
            ("Client", event.get("client")),
            ("Client URL", event.get("client_url")),
        )
        if value not in (None, "")
    ]
    if isinstance(custom, Mapping):
        custom_lines = [f"{key}: {render_value(value)}" for key, value in custom.items()]
    elif custom not in (None, "", [], {}):
        custom_lines = [render_value(custom)]
    else:
        custom_lines = []
    link_lines = [
        f"{link.get('text')}: {link.get('href')}" if link.get("text") else str(link.get("href"))
        for link in event.get("links") or []
        if isinstance(link, Mapping) and link.get("href")
    ]

    return AlertSignal(
        action="trigger",
        dedup_key=dedup_key if dedup_key is not None else new_dedup_key(),
        title=title_from(summary),
        description=description_from(
            [
                summary,
                "\n".join(facts),
                block("Custom details:", custom_lines),
                block("Links:", link_lines),
            ]
        ),
        service=default_service,
        category=slug(klass) or slug(group) or DEFAULT_CATEGORY,
        impact=rule.impact,
        urgency=rule.urgency,
        reporter=reporter_from(payload.get("source"), f"pagerduty/{integration_name}"),
        details={
            **context,
            "source": payload.get("source"),
            "severity": severity,
            "timestamp": timestamp,
            "component": component,
            "group": group,
            "class": klass,
            "custom_details": jsonable(custom),
        },
    )
