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

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal

from tierline_intake.domain.priority import LEVELS

Action = Literal["trigger", "acknowledge", "resolve"]
ACTIONS: tuple[str, ...] = ("trigger", "acknowledge", "resolve")

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
NAME_MAX = 120
REPORTER_MAX = 320
DEDUP_KEY_MAX = 255
DEFAULT_CATEGORY = "alert"
DEFAULT_TITLE = "Alert"
ELLIPSIS = "…"
TRUNCATION_NOTE = "\n\n[truncated]"

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Intake's rule for service and category names (entrypoints.schemas.IncidentIn).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SeverityRule:
    """The impact and urgency an alert of some severity gets (each high, medium or low)."""

    impact: str
    urgency: str

    def __post_init__(self) -> None:
        for name, value in (("impact", self.impact), ("urgency", self.urgency)):
            if value not in LEVELS:
                raise ValueError(f"severity rule {name} must be one of {', '.join(LEVELS)}, not {value!r}")


DEFAULT_SEVERITY_RULES: Mapping[str, SeverityRule] = MappingProxyType(
    {
        "critical": SeverityRule("high", "high"),
        "error": SeverityRule("high", "medium"),
        "warning": SeverityRule("medium", "medium"),
        "info": SeverityRule("low", "low"),
    }
)
FALLBACK_SEVERITY = "warning"
# Severity label values common in Prometheus rules, beyond PagerDuty's four.
SEVERITY_ALIASES: Mapping[str, str] = MappingProxyType({"page": "critical", "high": "error", "low": "info"})


@dataclass(frozen=True)
class AlertSignal:
    """What an integration asks of intake, normalized across formats.

    For ``trigger`` every field describes the incident to open (impact and urgency are set);
    for ``acknowledge`` and ``resolve`` only ``dedup_key`` matters (impact and urgency are None,
    the texts are placeholders that still satisfy intake's rules).
    """

    action: Action
    dedup_key: str
    title: str
    description: str
    service: str
    category: str
    impact: str | None
    urgency: str | None
    reporter: str
    details: dict[str, Any] = field(default_factory=dict)


# -- text helpers ----------------------------------------------------------------------------


def slug(text: str | None) -> str | None:
    """A lowercase name matching ``^[a-z0-9][a-z0-9._-]*$`` of at most 120 characters, or None.

    Accents are folded to ASCII, every other run of unusable characters becomes one ``-``:
    ``"High CPU"`` gives ``"high-cpu"``, ``"prod-datapipe"`` stays, ``"???"`` gives None.
    """
    if not text:
        return None
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    dashed = re.sub(r"[^a-z0-9._-]+", "-", folded)
    dashed = re.sub(r"-{2,}", "-", dashed)
    trimmed = dashed.lstrip("._-")[:NAME_MAX].rstrip("._-")
    return trimmed if trimmed and SLUG_PATTERN.match(trimmed) else None


def _valid_name(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= NAME_MAX and NAME_PATTERN.match(value):
        return value
    return None


def _clean(text: Any) -> str:
    """Text safe to store: no lone surrogates, no control characters other than newlines/tabs."""
    if text is None:
        return ""
    chars = []
    for char in str(text):
        category = unicodedata.category(char)
        if category == "Cs":
            chars.append("\ufffd")
        elif category == "Cc" and char not in "\n\t":
            chars.append(" ")
        else:
            chars.append(char)
    return "".join(chars)


def _one_line(text: Any) -> str:
    return " ".join(_clean(text).split())


def _clip(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(marker)] + marker


def title_from(*candidates: Any) -> str:
    """The first candidate with visible text, on one line, clipped to 200 characters."""
    for candidate in candidates:
        line = _one_line(candidate)
        if line:
            return _clip(line, TITLE_MAX)
    return DEFAULT_TITLE


def _description(parts: Iterable[str]) -> str:
    text = "\n\n".join(part for part in (_clean(p).strip() for p in parts) if part)
    return _clip(text, DESCRIPTION_MAX, TRUNCATION_NOTE)


def _reporter(*candidates: Any) -> str:
    for candidate in candidates:
        line = _one_line(candidate)
        if line:
            return _clip(line, REPORTER_MAX)
    return "monitoring"


def _iso(value: datetime | date) -> str:
    """ISO 8601 as pydantic's JSON mode writes it (UTC as ``Z``), whichever dump we were given."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False, sort_keys=True)


def _block(heading: str, lines: Iterable[str]) -> str:
    body = [f"  {line}" for line in lines]
    return "\n".join([heading, *body]) if body else ""


def _rule(rules: Mapping[str, SeverityRule], severity: str) -> SeverityRule:
    return (
        rules.get(severity)
        or DEFAULT_SEVERITY_RULES.get(severity)
        or rules.get(FALLBACK_SEVERITY)
        or DEFAULT_SEVERITY_RULES[FALLBACK_SEVERITY]
    )


# -- PagerDuty Events API v2 -----------------------------------------------------------------


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
        "links": _jsonable(event.get("links") or []),
        "images": _jsonable(event.get("images") or []),
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
            reporter=_reporter(event.get("client"), f"pagerduty/{integration_name}"),
            details=context,
        )

    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        raise ValueError("a PagerDuty trigger event needs a payload")
    severity = str(payload.get("severity") or FALLBACK_SEVERITY)
    rule = _rule(rules, severity)
    summary = _clean(payload.get("summary"))
    component, group, klass = payload.get("component"), payload.get("group"), payload.get("class")
    timestamp = _jsonable(payload.get("timestamp"))
    custom = payload.get("custom_details")

    facts = [
        f"{label}: {_one_line(value)}"
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
        custom_lines = [f"{key}: {_render_value(value)}" for key, value in custom.items()]
    elif custom not in (None, "", [], {}):
        custom_lines = [_render_value(custom)]
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
        description=_description(
            [
                summary,
                "\n".join(facts),
                _block("Custom details:", custom_lines),
                _block("Links:", link_lines),
            ]
        ),
        service=default_service,
        category=slug(klass) or slug(group) or DEFAULT_CATEGORY,
        impact=rule.impact,
        urgency=rule.urgency,
        reporter=_reporter(payload.get("source"), f"pagerduty/{integration_name}"),
        details={
            **context,
            "source": payload.get("source"),
            "severity": severity,
            "timestamp": timestamp,
            "component": component,
            "group": group,
            "class": klass,
            "custom_details": _jsonable(custom),
        },
    )


# -- Prometheus Alertmanager webhook (version 4) -----------------------------------------------


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
        return None if value.year <= 1 else _iso(value)
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
    receiver = _one_line(payload.get("receiver"))
    reporter = _reporter(f"alertmanager/{receiver}" if receiver else "alertmanager")
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
        rule = _rule(rules, severity)
        generator_url = alert.get("generatorURL") or ""
        label_lines = [f"{key}={_one_line(value)}" for key, value in sorted(labels.items())]
        links = [
            f"{name}: {_one_line(url)}"
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
                description=_description(
                    [
                        _clean(annotations.get("description")),
                        _block("Labels:", label_lines),
                        "\n".join(links),
                    ]
                ),
                service=_valid_name(labels.get("service")) or default_service,
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
                    "startsAt": _jsonable(alert.get("startsAt")),
                    "endsAt": _ends_at(alert.get("endsAt")),
                    "generatorURL": generator_url or None,
                    "fingerprint": alert.get("fingerprint") or None,
                },
            )
        )
    return signals
