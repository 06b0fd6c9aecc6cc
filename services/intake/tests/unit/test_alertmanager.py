"""Alertmanager webhook (version "4"): validation and the mapping to one signal per alert.

The fixtures follow the payload documented for ``webhook_config``
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config): a group of two
alerts, first firing (endsAt is Go's zero time), then resolved.
"""

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_intake.domain.alerts import (
    DEFAULT_SEVERITY_RULES,
    AlertSignal,
    SeverityRule,
    alertmanager_severity,
    alertmanager_signals,
    labels_fingerprint,
)
from tierline_intake.domain.priority import LEVELS
from tierline_intake.entrypoints.alertmanager import GO_ZERO_TIME, AlertmanagerWebhook


# Text PostgreSQL can store: the models refuse NUL characters and lone surrogates at the edge.
def storable_text(**kwargs):
    return st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), **kwargs)


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GENERATOR_URL = "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1"
GROUP_KEY = '{}/{severity=~"critical|warning"}:{alertname="ProbeFailure"}'


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def signals_of(payload: dict[str, Any], **kwargs: Any) -> list[AlertSignal]:
    validated = AlertmanagerWebhook.model_validate(payload)
    return alertmanager_signals(
        validated.model_dump(by_alias=True),
        integration_name=kwargs.pop("integration_name", "prometheus-prod"),
        default_service=kwargs.pop("default_service", "platform"),
        **kwargs,
    )


def alert(**overrides: Any) -> dict[str, Any]:
    base = {
        "status": "firing",
        "labels": {"alertname": "HighLatency"},
        "annotations": {},
        "startsAt": "2024-03-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "0123456789abcdef",
    }
    return {**base, **overrides}


def webhook(*alerts: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    base = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tierline",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": list(alerts),
    }
    return {**base, **overrides}


# -- validation ---------------------------------------------------------------------------


def test_firing_notification_validates_field_by_field() -> None:
    hook = AlertmanagerWebhook.model_validate(fixture("alertmanager_firing.json"))

    assert hook.version == "4"
    assert hook.group_key == GROUP_KEY
    assert hook.truncated_alerts == 0
    assert hook.status == "firing"
    assert hook.receiver == "tierline"
    assert hook.group_labels == {"alertname": "ProbeFailure"}
    assert hook.common_labels == {"alertname": "ProbeFailure", "job": "http_checks", "service": "checkout"}
    assert hook.common_annotations == {}
    assert hook.external_url == "http://alertmanager.example.org:9093"
    assert len(hook.alerts) == 2

    first, second = hook.alerts
    assert first.status == "firing"
    assert first.labels == {
        "alertname": "ProbeFailure",
        "instance": "https://shop.example.org",
        "job": "http_checks",
        "service": "checkout",
        "severity": "critical",
    }
    assert first.annotations == {
        "summary": "BlackBox Probe Failure: https://shop.example.org",
        "description": "Instance https://shop.example.org has been down for over 5m. Job: http_checks",
    }
    assert first.starts_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert first.ends_at == GO_ZERO_TIME  # "0001-01-01T00:00:00Z" parses
    assert not first.has_end
    assert first.generator_url == GENERATOR_URL
    assert first.fingerprint == "1a30ba71cca2921f"
    assert second.fingerprint == "5f2c6e1d9b0a7c43"
    assert second.labels["severity"] == "warning"


def test_resolved_notification_validates() -> None:
    hook = AlertmanagerWebhook.model_validate(fixture("alertmanager_resolved.json"))
    assert hook.status == "resolved"
    assert [a.status for a in hook.alerts] == ["resolved", "resolved"]
    assert hook.alerts[0].ends_at == datetime(2023, 2, 6, 13, 21, 45, 828000, tzinfo=UTC)
    assert all(a.has_end for a in hook.alerts)


def test_dump_by_alias_gives_back_alertmanager_key_names() -> None:
    plain = AlertmanagerWebhook.model_validate(fixture("alertmanager_firing.json")).as_plain()
    assert set(plain) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert set(plain["alerts"][0]) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    json.dumps(plain)


def test_extra_keys_are_ignored_and_nanosecond_offsets_parse() -> None:
    # Grafana-style additions, and the nanosecond timestamps Alertmanager writes.
    payload = webhook(
        alert(
            startsAt="2018-08-03T09:52:26.739266876+02:00",
            silenceURL="https://grafana/silence",
            values={"B": 44.2},
        ),
        orgId=1,
    )
    hook = AlertmanagerWebhook.model_validate(payload)
    assert hook.alerts[0].starts_at.utcoffset().total_seconds() == 7200
    assert "orgId" not in hook.as_plain()


def test_truncated_alerts_defaults_to_zero() -> None:
    payload = webhook(alert())
    del payload["truncatedAlerts"]
    assert AlertmanagerWebhook.model_validate(payload).truncated_alerts == 0


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(status="pending"),
        lambda p: p.pop("alerts"),
        lambda p: p["alerts"][0].update(status="silenced"),
        lambda p: p["alerts"][0].update(startsAt="not a time"),
        lambda p: p["alerts"][0].update(labels={"severity": 1}),
        lambda p: p.update(truncatedAlerts=-1),
    ],
)
def test_invalid_notifications_are_rejected(change: Any) -> None:
    payload = webhook(alert())
    change(payload)
    with pytest.raises(ValidationError):
        AlertmanagerWebhook.model_validate(payload)


# -- mapping ------------------------------------------------------------------------------


def test_firing_notification_maps_field_by_field() -> None:
    first, second = signals_of(fixture("alertmanager_firing.json"))

    assert first.action == "trigger"
    assert first.dedup_key == "1a30ba71cca2921f"
    assert first.title == "BlackBox Probe Failure: https://shop.example.org"
    assert first.description.startswith(
        "Instance https://shop.example.org has been down for over 5m. Job: http_checks"
    )
    assert "Labels:\n  alertname=ProbeFailure\n  instance=https://shop.example.org" in first.description
    assert f"Source: {GENERATOR_URL}" in first.description
    assert "Alertmanager: http://alertmanager.example.org:9093" in first.description
    assert first.service == "checkout"  # labels.service
    assert first.category == "probefailure"
    assert (first.impact, first.urgency) == ("high", "high")  # critical
    assert first.reporter == "alertmanager/tierline"
    assert first.details == {
        "format": "alertmanager-webhook-v4",
        "integration": "prometheus-prod",
        "groupKey": GROUP_KEY,
        "receiver": "tierline",
        "externalURL": "http://alertmanager.example.org:9093",
        "truncatedAlerts": 0,
        "status": "firing",
        "severity": "critical",
        "labels": {
            "alertname": "ProbeFailure",
            "instance": "https://shop.example.org",
            "job": "http_checks",
            "service": "checkout",
            "severity": "critical",
        },
        "annotations": {
            "summary": "BlackBox Probe Failure: https://shop.example.org",
            "description": "Instance https://shop.example.org has been down for over 5m. Job: http_checks",
        },
        "startsAt": "2023-02-06T13:08:45.828000Z",
        "endsAt": None,  # Go's zero time: no known end
        "generatorURL": GENERATOR_URL,
        "fingerprint": "1a30ba71cca2921f",
    }
    json.dumps(first.details)

    assert second.action == "trigger"
    assert second.dedup_key == "5f2c6e1d9b0a7c43"
    assert second.title == "BlackBox Probe Failure: https://api.example.org"
    assert (second.impact, second.urgency) == ("medium", "medium")  # warning


def test_resolved_notification_resolves_the_same_keys() -> None:
    firing = signals_of(fixture("alertmanager_firing.json"))
    resolved = signals_of(fixture("alertmanager_resolved.json"))
    assert [s.action for s in resolved] == ["resolve", "resolve"]
    assert [s.dedup_key for s in resolved] == [s.dedup_key for s in firing]
    assert all((s.impact, s.urgency) == (None, None) for s in resolved)
    assert resolved[0].details["endsAt"] == "2023-02-06T13:21:45.828000Z"
    assert resolved[0].title == firing[0].title


def test_the_json_dump_maps_the_same_as_the_python_dump() -> None:
    hook = AlertmanagerWebhook.model_validate(fixture("alertmanager_firing.json"))
    common = {"integration_name": "i", "default_service": "s"}
    assert alertmanager_signals(hook.as_plain(), **common) == alertmanager_signals(
        hook.model_dump(by_alias=True), **common
    )


def test_mixed_group_maps_each_alert_by_its_own_status() -> None:
    payload = webhook(alert(fingerprint="a"), alert(status="resolved", fingerprint="b"), status="firing")
    assert [(s.dedup_key, s.action) for s in signals_of(payload)] == [("a", "trigger"), ("b", "resolve")]


def test_empty_group_gives_no_signal() -> None:
    assert signals_of(webhook()) == []


@pytest.mark.parametrize(
    ("labels", "annotations", "title"),
    [
        ({"alertname": "HighLatency"}, {"summary": "p99 above 2s"}, "p99 above 2s"),
        ({"alertname": "HighLatency"}, {"summary": "  "}, "HighLatency"),
        ({"alertname": "HighLatency"}, {}, "HighLatency"),
        ({}, {}, "Alert"),
    ],
)
def test_title_fallbacks(labels: dict[str, str], annotations: dict[str, str], title: str) -> None:
    (signal,) = signals_of(webhook(alert(labels=labels, annotations=annotations)))
    assert signal.title == title


def test_missing_alertname_gives_the_default_category() -> None:
    (signal,) = signals_of(webhook(alert(labels={"job": "x"})))
    assert signal.category == "alert"


@pytest.mark.parametrize(
    ("service_label", "service"),
    [
        ("checkout", "checkout"),
        ("Checkout.API_v2", "Checkout.API_v2"),
        ("check out", "platform"),
        ("-checkout", "platform"),
        ("x" * 121, "platform"),
        (None, "platform"),
    ],
)
def test_service_label_or_integration_default(service_label: str | None, service: str) -> None:
    labels = {"alertname": "A"} | ({"service": service_label} if service_label is not None else {})
    (signal,) = signals_of(webhook(alert(labels=labels)))
    assert signal.service == service


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", "critical"),
        ("error", "error"),
        ("warning", "warning"),
        ("info", "info"),
        ("Critical", "critical"),
        ("page", "critical"),
        ("high", "error"),
        ("low", "info"),
        ("none", "warning"),
        ("", "warning"),
        (None, "warning"),
    ],
)
def test_severity_labels(label: str | None, severity: str) -> None:
    assert alertmanager_severity(label) == severity
    labels = {"alertname": "A"} | ({"severity": label} if label is not None else {})
    (signal,) = signals_of(webhook(alert(labels=labels)))
    rule = DEFAULT_SEVERITY_RULES[severity]
    assert (signal.impact, signal.urgency) == (rule.impact, rule.urgency)
    assert signal.details["severity"] == severity


def test_custom_rules_may_name_their_own_severities() -> None:
    rules = {**DEFAULT_SEVERITY_RULES, "sev1": SeverityRule("high", "high")}
    (signal,) = signals_of(webhook(alert(labels={"alertname": "A", "severity": "sev1"})), rules=rules)
    assert (signal.impact, signal.urgency) == ("high", "high")


def test_alert_without_fingerprint_gets_a_stable_key_from_its_labels() -> None:
    labels = {"alertname": "A", "instance": "db-1", "job": "node"}
    reordered = dict(reversed(list(labels.items())))
    (one,) = signals_of(webhook(alert(labels=labels, fingerprint="")))
    (two,) = signals_of(webhook(alert(labels=reordered, fingerprint="")))
    assert one.dedup_key == two.dedup_key == labels_fingerprint(labels)
    assert re.fullmatch(r"[0-9a-f]{64}", one.dedup_key)
    expected = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()
    assert one.dedup_key == expected
    (other,) = signals_of(webhook(alert(labels={**labels, "instance": "db-2"}, fingerprint="")))
    assert other.dedup_key != one.dedup_key


def test_reporter_without_receiver() -> None:
    (signal,) = signals_of(webhook(alert(), receiver=""))
    assert signal.reporter == "alertmanager"


def test_long_description_is_truncated_safely() -> None:
    (signal,) = signals_of(webhook(alert(annotations={"description": "d" * 30_000})))
    assert len(signal.description) <= 20_000
    assert signal.description.endswith("[truncated]")


# -- properties ---------------------------------------------------------------------------

label_values = storable_text(max_size=50)


@given(severity=st.sampled_from(sorted(DEFAULT_SEVERITY_RULES)) | storable_text(max_size=20))
def test_any_severity_label_maps_to_valid_impact_and_urgency(severity: str) -> None:
    (signal,) = signals_of(webhook(alert(labels={"alertname": "A", "severity": severity})))
    assert signal.impact in LEVELS
    assert signal.urgency in LEVELS


@given(
    summary=st.none() | storable_text(max_size=600),
    alertname=st.none() | storable_text(max_size=300),
    description=st.none() | storable_text(max_size=25_000),
)
def test_titles_are_always_1_to_200_characters(
    summary: str | None, alertname: str | None, description: str | None
) -> None:
    labels = {} if alertname is None else {"alertname": alertname}
    annotations = {k: v for k, v in (("summary", summary), ("description", description)) if v is not None}
    (signal,) = signals_of(webhook(alert(labels=labels, annotations=annotations)))
    assert 1 <= len(signal.title) <= 200
    assert len(signal.description) <= 20_000
    assert NAME.match(signal.category) and len(signal.category) <= 120
    assert NAME.match(signal.service) and len(signal.service) <= 120


@given(
    fingerprints=st.lists(
        st.text(alphabet="0123456789abcdef", min_size=16, max_size=16), min_size=1, max_size=20, unique=True
    )
)
def test_fingerprints_become_dedup_keys_one_to_one(fingerprints: list[str]) -> None:
    payload = webhook(*(alert(fingerprint=f) for f in fingerprints))
    keys = [s.dedup_key for s in signals_of(payload)]
    assert keys == fingerprints
    assert len(set(keys)) == len(fingerprints)


@given(
    labelsets=st.lists(
        st.dictionaries(storable_text(min_size=1, max_size=10), label_values, min_size=1, max_size=5),
        min_size=1,
        max_size=10,
    )
)
def test_label_keys_are_one_to_one_without_fingerprints(labelsets: list[dict[str, str]]) -> None:
    distinct = {json.dumps(sorted(ls.items())): ls for ls in labelsets}
    payload = webhook(*(alert(labels=ls, fingerprint="") for ls in distinct.values()))
    keys = [s.dedup_key for s in signals_of(payload)]
    assert len(set(keys)) == len(distinct)
    assert all(len(k) <= 255 for k in keys)
