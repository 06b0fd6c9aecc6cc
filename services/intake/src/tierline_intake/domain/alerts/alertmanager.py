"""A Prometheus Alertmanager webhook notification, version "4", as one alert signal per alert.

The notification arrives as ``AlertmanagerWebhook.model_dump(by_alias=True)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierline_intake.domain.alerts.signal import (
    DEDUP_KEY_MAX,
    DEFAULT_CATEGORY,
    DEFAULT_SEVERITY_RULES,
    FALLBACK_SEVERITY,
    SEVERITY_ALIASES,
    Action,
    AlertSignal,
    SeverityRule,
    severity_rule,
)
from tierline_intake.domain.alerts.text import (
    block,
    description_from,
    iso,
    jsonable,
    one_line,
    reporter_from,
    slug,
    title_from,
    valid_name,
)
from tierline_shared.text import storable


def alertmanager_severity(label: Any, rules: Mapping[str, SeverityRule] = DEFAULT_SEVERITY_RULES) -> str:
    """The severity key a ``severity`` label stands for (unknown or missing: ``"warning"``)."""
    value = str(label or "").strip().lower()
    if value in rules or value in DEFAULT_SEVERITY_RULES:
        return value
    return SEVERITY_ALIASES.get(value, FALLBACK_SEVERITY)


def labels_fingerprint(labels: Mapping[str, Any]) -> str:
    """A stable key for an alert without a fingerprint: sha256 of its sorted labels."""
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in labels.items()), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _alert_dedup_key(alert: Mapping[str, Any], labels: Mapping[str, Any]) -> str:
    fingerprint = alert.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint:
        if len(fingerprint) <= DEDUP_KEY_MAX:
            return fingerprint
        return hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()
    return labels_fingerprint(labels)


def _ends_at(value: Any) -> Any:
    """endsAt, or None for Go's zero time (the alert has no known end yet)."""
    if isinstance(value, datetime):
        return None if value.year <= 1 else iso(value)
    if isinstance(value, str) and value.startswith("0001-01-01"):
        return None
    return value


def alertmanager_signals(
    payload: Mapping[str, Any],
    *,
    integration_name: str,
    default_service: str,
    rules: Mapping[str, SeverityRule] = DEFAULT_SEVERITY_RULES,
) -> list[AlertSignal]:
    """One signal per alert of a validated Alertmanager notification (plain dict, its key names).

    * ``firing`` triggers, ``resolved`` resolves; ``dedup_key`` is the alert's fingerprint
      (without one: a sha256 of its sorted labels), so later notifications find the incident.
    * ``title`` is ``annotations.summary``, else ``labels.alertname``, else ``"Alert"``.
    * ``description`` is ``annotations.description``, the labels, ``generatorURL`` and
      ``externalURL``.
    * severity comes from ``labels.severity`` (``page``/``high``/``low`` are read as
      critical/error/info; unknown or missing as warning).
    * ``service`` is ``labels.service`` when it is a valid intake name, else ``default_service``;
      ``category`` is ``labels.alertname`` slugged, else ``"alert"``.
    * ``reporter`` is ``alertmanager/<receiver>``; a resolve carries no impact/urgency (as for
      PagerDuty follow-ups) but keeps the texts, which can serve as a resolution note.
    * ``details`` keeps labels, annotations, startsAt, endsAt (None for Go's zero time),
      generatorURL, fingerprint and the group's groupKey, receiver and externalURL.
    """
    receiver = one_line(payload.get("receiver"))
    reporter = reporter_from(f"alertmanager/{receiver}" if receiver else "alertmanager")
    external_url = payload.get("externalURL") or ""
    group = {
        "format": "alertmanager-webhook-v4",
        "integration": integration_name,
        "groupKey": payload.get("groupKey"),
        "receiver": payload.get("receiver"),
        "externalURL": external_url or None,
        "truncatedAlerts": payload.get("truncatedAlerts") or 0,
    }
    signals: list[AlertSignal] = []
    for alert in payload.get("alerts") or []:
        labels: Mapping[str, Any] = alert.get("labels") or {}
        annotations: Mapping[str, Any] = alert.get("annotations") or {}
        severity = alertmanager_severity(labels.get("severity"), rules)
        rule = severity_rule(rules, severity)
        generator_url = alert.get("generatorURL") or ""
        label_lines = [f"{key}={one_line(value)}" for key, value in sorted(labels.items())]
        links = [
            f"{name}: {one_line(url)}"
            for name, url in (
                ("Runbook", annotations.get("runbook_url")),
                ("Source", generator_url),
                ("Alertmanager", external_url),
            )
            if url
        ]
        action: Action = "resolve" if alert.get("status") == "resolved" else "trigger"
        signals.append(
            AlertSignal(
                action=action,
                dedup_key=_alert_dedup_key(alert, labels),
                title=title_from(annotations.get("summary"), labels.get("alertname")),
                description=description_from(
                    [
                        storable(annotations.get("description")),
                        block("Labels:", label_lines),
                        "\n".join(links),
                    ]
                ),
                service=valid_name(labels.get("service")) or default_service,
                category=slug(labels.get("alertname")) or DEFAULT_CATEGORY,
                impact=rule.impact if action == "trigger" else None,
                urgency=rule.urgency if action == "trigger" else None,
                reporter=reporter,
                details={
                    **group,
                    "status": alert.get("status"),
                    "severity": severity,
                    "labels": dict(labels),
                    "annotations": dict(annotations),
                    "startsAt": jsonable(alert.get("startsAt")),
                    "endsAt": _ends_at(alert.get("endsAt")),
                    "generatorURL": generator_url or None,
                    "fingerprint": alert.get("fingerprint") or None,
                },
            )
        )
    return signals
