"""PagerDuty Events API v2: validation as PagerDuty does it, and the mapping to a signal.

The fixtures are the request examples of PagerDuty's "Send an Alert Event" page
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/), unchanged.
"""

import copy
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
    pagerduty_signal,
    slug,
)
from tierline_intake.domain.priority import LEVELS
from tierline_intake.entrypoints.pagerduty import (
    SEVERITIES,
    PagerDutyAccepted,
    PagerDutyEvent,
    invalid_event_body,
    pagerduty_errors,
)


# Text PostgreSQL can store: the models refuse NUL characters and lone surrogates at the edge.
def storable_text(**kwargs):
    return st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), **kwargs)


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def signal_of(event: dict[str, Any], **kwargs: Any) -> AlertSignal:
    validated = PagerDutyEvent.model_validate(event)
    return pagerduty_signal(
        validated.model_dump(by_alias=True),
        integration_name=kwargs.pop("integration_name", "datadog-prod"),
        default_service=kwargs.pop("default_service", "payments"),
        new_dedup_key=kwargs.pop("new_dedup_key", lambda: "generated-key"),
        **kwargs,
    )


def errors_of(event: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        PagerDutyEvent.model_validate(event)
    return pagerduty_errors(caught.value)


def trigger(**payload: Any) -> dict[str, Any]:
    base = {"summary": "Disk full on db-1", "source": "db-1.example.com", "severity": "error"}
    return {"routing_key": "R" * 32, "event_action": "trigger", "payload": {**base, **payload}}


# -- validation of the documented examples -------------------------------------------------


def test_documented_trigger_validates_field_by_field() -> None:
    event = PagerDutyEvent.model_validate(fixture("pagerduty_trigger.json"))

    assert event.routing_key == "samplekeyhere"
    assert event.event_action == "trigger"
    assert event.dedup_key == "samplekeyhere"
    assert event.client == "Sample Monitoring Service"
    assert event.client_url == "https://monitoring.example.com"
    assert len(event.links) == 1
    assert (event.links[0].href, event.links[0].text) == ("https://example.com/", "Link text")
    assert len(event.images) == 1
    image = event.images[0]
    assert image.src == "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png"
    assert (image.href, image.alt) == ("https://example.com/", "Example text")

    payload = event.payload
    assert payload is not None
    assert payload.summary == "Example alert on host1.example.com"
    assert payload.source == (
        "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
    )
    assert payload.severity == "info"
    # PagerDuty's own example writes the offset without a colon ("+0000").
    assert payload.timestamp == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert payload.component == "postgres"
    assert payload.group == "prod-datapipe"
    assert payload.class_ == "deploy"
    assert payload.custom_details == {"ping time": "1500ms", "load avg": 0.75}


def test_dump_by_alias_gives_back_pagerduty_key_names() -> None:
    plain = PagerDutyEvent.model_validate(fixture("pagerduty_trigger.json")).as_plain()
    assert plain["payload"]["class"] == "deploy"
    assert "class_" not in plain["payload"]
    assert plain["payload"]["timestamp"].startswith("2015-07-17T08:42:58.315")
    json.dumps(plain)  # JSON-ready


@pytest.mark.parametrize(
    ("name", "action"), [("pagerduty_acknowledge.json", "acknowledge"), ("pagerduty_resolve.json", "resolve")]
)
def test_documented_follow_ups_validate(name: str, action: str) -> None:
    event = PagerDutyEvent.model_validate(fixture(name))
    assert event.routing_key == "routingkeyhere"
    assert event.dedup_key == "dedupkeyhere"
    assert event.event_action == action
    assert event.payload is None
    assert event.links == [] and event.images == []
    assert event.client is None and event.client_url is None


def test_unknown_keys_are_ignored_like_pagerduty_does() -> None:
    event = fixture("pagerduty_trigger.json")
    event["something_new"] = {"x": 1}
    event["payload"]["also_new"] = True
    event["links"][0]["rel"] = "nofollow"
    parsed = PagerDutyEvent.model_validate(event)
    assert "something_new" not in parsed.as_plain()
    assert "also_new" not in parsed.as_plain()["payload"]


def test_trigger_without_dedup_key_is_valid_and_blank_counts_as_absent() -> None:
    assert PagerDutyEvent.model_validate(trigger()).dedup_key is None
    assert PagerDutyEvent.model_validate({**trigger(), "dedup_key": ""}).dedup_key is None


def test_payload_of_a_follow_up_is_ignored() -> None:
    event = {**fixture("pagerduty_resolve.json"), "payload": {"summary": ""}}
    assert PagerDutyEvent.model_validate(event).payload is None


def test_minimal_payload_and_null_lists() -> None:
    event = PagerDutyEvent.model_validate({**trigger(), "links": None, "images": None})
    assert event.links == [] and event.images == []
    assert event.payload is not None
    assert event.payload.timestamp is None
    assert event.payload.custom_details is None


def test_custom_details_may_be_any_json_value() -> None:
    for value in ("free text", [1, 2], 3, {"nested": {"a": [True, None]}}):
        assert PagerDutyEvent.model_validate(trigger(custom_details=value)).payload.custom_details == value


# -- invalid events, worded like PagerDuty -------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.pop("routing_key"), ["'routing_key' is missing or blank"]),
        (lambda e: e.update(routing_key="   "), ["'routing_key' is missing or blank"]),
        (lambda e: e.update(routing_key="k" * 65), ["'routing_key' is too long (maximum is 64 characters)"]),
        (
            lambda e: e.update(event_action="page"),
            [
                "'event_action' is invalid "
                "(must be one of the following: 'trigger', 'acknowledge' or 'resolve')"
            ],
        ),
        (lambda e: e.pop("event_action"), ["'event_action' is missing or blank"]),
        (
            lambda e: e["payload"].update(summary="s" * 1025),
            ["'payload.summary' is too long (maximum is 1024 characters)"],
        ),
        (lambda e: e["payload"].pop("summary"), ["'payload.summary' is missing or blank"]),
        (lambda e: e["payload"].update(summary=" \n "), ["'payload.summary' is missing or blank"]),
        (lambda e: e["payload"].pop("source"), ["'payload.source' is missing or blank"]),
        (lambda e: e["payload"].update(source=""), ["'payload.source' is missing or blank"]),
        (
            lambda e: e["payload"].update(severity="CRITICAL"),
            [
                "'payload.severity' is invalid "
                "(must be one of the following: 'critical', 'warning', 'error' or 'info')"
            ],
        ),
        (lambda e: e["payload"].pop("severity"), ["'payload.severity' is missing or blank"]),
        (
            lambda e: e["payload"].update(timestamp="yesterday"),
            ["'payload.timestamp' is invalid (must be an ISO 8601 timestamp)"],
        ),
        (lambda e: e.pop("payload"), ["'payload' is missing or blank"]),
        (lambda e: e.update(payload=None), ["'payload' is missing or blank"]),
        (lambda e: e.update(payload="text"), ["'payload' is invalid (must be an object)"]),
        (lambda e: e.update(dedup_key="d" * 256), ["'dedup_key' is too long (maximum is 255 characters)"]),
        (lambda e: e.update(links=[{"text": "no href"}]), ["'links[0].href' is missing or blank"]),
        (lambda e: e.update(images=[{}, {"src": "https://x"}]), ["'images[0].src' is missing or blank"]),
        (lambda e: e["payload"].update(component=5), ["'payload.component' is invalid (must be a string)"]),
    ],
)
def test_invalid_trigger_events(change: Any, expected: list[str]) -> None:
    event = fixture("pagerduty_trigger.json")
    change(event)
    assert errors_of(event) == expected


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize("dedup_key", [None, "", "  "])
def test_follow_up_without_dedup_key(action: str, dedup_key: str | None) -> None:
    event: dict[str, Any] = {"routing_key": "routingkeyhere", "event_action": action}
    if dedup_key is not None:
        event["dedup_key"] = dedup_key
    assert errors_of(event) == ["'dedup_key' is missing or blank"]


def test_every_problem_is_reported_at_once() -> None:
    event = {"event_action": "trigger", "payload": {"summary": "x" * 2000, "severity": "fatal"}}
    assert errors_of(event) == [
        "'routing_key' is missing or blank",
        "'payload.summary' is too long (maximum is 1024 characters)",
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid "
        "(must be one of the following: 'critical', 'warning', 'error' or 'info')",
    ]


def test_body_that_is_not_an_object() -> None:
    assert errors_of(["not", "an", "object"]) == ["Event must be a JSON object"]


def test_invalid_event_body_has_pagerduty_shape() -> None:
    with pytest.raises(ValidationError) as caught:
        PagerDutyEvent.model_validate({"event_action": "acknowledge", "routing_key": "k"})
    assert invalid_event_body(caught.value) == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'dedup_key' is missing or blank"],
    }


def test_accepted_body_has_pagerduty_shape() -> None:
    assert PagerDutyAccepted(dedup_key="abc").model_dump() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "abc",
    }


# -- mapping to a signal ------------------------------------------------------------------


def test_documented_trigger_maps_field_by_field() -> None:
    signal = signal_of(fixture("pagerduty_trigger.json"))

    assert signal.action == "trigger"
    assert signal.dedup_key == "samplekeyhere"
    assert signal.title == "Example alert on host1.example.com"
    assert signal.service == "payments"  # the integration's, never payload.component
    assert signal.category == "deploy"  # payload.class
    assert (signal.impact, signal.urgency) == ("low", "low")  # info
    assert signal.reporter == (
        "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
    )

    description = signal.description
    assert description.startswith("Example alert on host1.example.com\n")
    for line in (
        "Source: monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
        "Severity: info",
        "Component: postgres",
        "Group: prod-datapipe",
        "Class: deploy",
        "Timestamp: 2015-07-17T08:42:58.315000Z",
        "Client: Sample Monitoring Service",
        "Client URL: https://monitoring.example.com",
        "Custom details:\n  ping time: 1500ms\n  load avg: 0.75",
        "Links:\n  Link text: https://example.com/",
    ):
        assert line in description

    details = signal.details
    assert details["integration"] == "datadog-prod"
    assert details["source"] == (
        "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
    )
    assert details["severity"] == "info"
    assert details["timestamp"] == "2015-07-17T08:42:58.315000Z"
    assert (details["component"], details["group"], details["class"]) == (
        "postgres",
        "prod-datapipe",
        "deploy",
    )
    assert details["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert details["links"] == [{"href": "https://example.com/", "text": "Link text"}]
    assert details["images"] == [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ]
    assert details["client"] == "Sample Monitoring Service"
    assert details["client_url"] == "https://monitoring.example.com"
    assert "routing_key" not in details
    json.dumps(details)  # storable as JSON


def test_the_json_dump_maps_the_same_as_the_python_dump() -> None:
    validated = PagerDutyEvent.model_validate(fixture("pagerduty_trigger.json"))
    common = {"integration_name": "i", "default_service": "s", "new_dedup_key": lambda: "k"}
    assert pagerduty_signal(validated.as_plain(), **common) == pagerduty_signal(
        validated.model_dump(by_alias=True), **common
    )


@pytest.mark.parametrize(
    ("name", "action"), [("pagerduty_acknowledge.json", "acknowledge"), ("pagerduty_resolve.json", "resolve")]
)
def test_documented_follow_ups_map_to_their_dedup_key(name: str, action: str) -> None:
    signal = signal_of(fixture(name), new_dedup_key=lambda: pytest.fail("follow-ups never make up a key"))
    assert signal.action == action
    assert signal.dedup_key == "dedupkeyhere"
    assert (signal.impact, signal.urgency) == (None, None)
    assert signal.service == "payments"
    assert 1 <= len(signal.title) <= 200
    assert signal.reporter == "pagerduty/datadog-prod"


def test_trigger_without_dedup_key_gets_a_new_one() -> None:
    assert signal_of(trigger(), new_dedup_key=lambda: "fresh-1").dedup_key == "fresh-1"


@pytest.mark.parametrize(
    ("payload", "category"),
    [
        ({"class": "High CPU", "group": "www"}, "high-cpu"),
        ({"group": "web_stack"}, "web_stack"),
        ({"class": "???", "group": "Prod DataPipe"}, "prod-datapipe"),
        ({}, "alert"),
        ({"class": "", "group": ""}, "alert"),
    ],
)
def test_category_from_class_then_group(payload: dict[str, Any], category: str) -> None:
    assert signal_of(trigger(**payload)).category == category


def test_long_summary_is_clipped_in_the_title_and_kept_whole_in_the_description() -> None:
    summary = "word " * 200  # 1000 characters
    signal = signal_of(trigger(summary=summary))
    assert len(signal.title) == 200
    assert signal.title.endswith("…")
    assert summary.strip() in signal.description


def test_multiline_summary_gives_a_one_line_title() -> None:
    assert signal_of(trigger(summary="Disk\nfull\t on  db-1")).title == "Disk full on db-1"


def test_huge_custom_details_keep_the_description_within_bounds() -> None:
    signal = signal_of(trigger(custom_details={f"k{i}": "v" * 100 for i in range(500)}))
    assert len(signal.description) <= 20_000
    assert signal.description.endswith("[truncated]")


def test_custom_severity_rules() -> None:
    rules = {**DEFAULT_SEVERITY_RULES, "error": SeverityRule("medium", "high")}
    signal = signal_of(trigger(severity="error"), rules=rules)
    assert (signal.impact, signal.urgency) == ("medium", "high")
    # a rule set missing a severity falls back to the default rule for it
    partial = signal_of(trigger(severity="critical"), rules={"info": SeverityRule("low", "low")})
    assert (partial.impact, partial.urgency) == ("high", "high")


def test_severity_rule_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="impact"):
        SeverityRule("urgent", "high")


def test_long_source_is_clipped_as_reporter() -> None:
    assert len(signal_of(trigger(source="s" * 1000)).reporter) == 320


def test_mapping_does_not_mutate_its_input() -> None:
    plain = PagerDutyEvent.model_validate(fixture("pagerduty_trigger.json")).as_plain()
    before = copy.deepcopy(plain)
    pagerduty_signal(plain, integration_name="i", default_service="s", new_dedup_key=lambda: "k")
    assert plain == before


# -- properties ---------------------------------------------------------------------------


@given(severity=st.sampled_from(SEVERITIES))
def test_any_valid_severity_maps_to_valid_impact_and_urgency(severity: str) -> None:
    signal = signal_of(trigger(severity=severity))
    assert signal.impact in LEVELS
    assert signal.urgency in LEVELS
    rule = DEFAULT_SEVERITY_RULES[severity]
    assert (signal.impact, signal.urgency) == (rule.impact, rule.urgency)


def _has_visible_text(text: str) -> bool:
    return bool(text.strip())


@given(summary=storable_text(min_size=1, max_size=1024).filter(_has_visible_text))
def test_titles_are_always_1_to_200_characters(summary: str) -> None:
    signal = signal_of(trigger(summary=summary))
    assert 1 <= len(signal.title) <= 200
    assert signal.title == signal.title.strip()
    assert len(signal.description) <= 20_000


@given(
    summary=storable_text(max_size=3000),
    klass=st.none() | storable_text(max_size=300),
    group=st.none() | storable_text(max_size=300),
    source=storable_text(max_size=500),
)
def test_mapping_of_unvalidated_values_stays_within_intake_rules(
    summary: str, klass: str | None, group: str | None, source: str
) -> None:
    # The domain is defensive even for values the edge would have refused.
    event = {
        "event_action": "trigger",
        "payload": {
            "summary": summary,
            "source": source,
            "severity": "warning",
            "class": klass,
            "group": group,
        },
    }
    signal = pagerduty_signal(event, integration_name="i", default_service="svc", new_dedup_key=lambda: "k")
    assert 1 <= len(signal.title) <= 200
    assert len(signal.description) <= 20_000
    assert NAME.match(signal.category) and len(signal.category) <= 120
    assert 1 <= len(signal.reporter) <= 320


@given(text=storable_text(max_size=400))
def test_slug_matches_the_pattern_or_is_none(text: str) -> None:
    result = slug(text)
    assert result is None or (re.fullmatch(r"[a-z0-9][a-z0-9._-]*", result) and len(result) <= 120)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deploy", "deploy"),
        ("High CPU", "high-cpu"),
        ("500 Error", "500-error"),
        ("Café  Crème", "cafe-creme"),
        ("--web_stack--", "web_stack"),
        ("???", None),
        ("", None),
        (None, None),
        ("a" * 300, "a" * 120),
    ],
)
def test_slug_examples(text: str | None, expected: str | None) -> None:
    assert slug(text) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"dedup_key": "db1\u0000cpu"},
        {"payload": {"summary": "s", "source": "x", "severity": "info", "custom_details": {"k": "a\u0000b"}}},
        {
            "payload": {
                "summary": "s",
                "source": "x",
                "severity": "info",
                "custom_details": {"load": float("nan")},
            }
        },
        {"client": "\ud800"},
    ],
)
def test_text_the_database_cannot_store_is_an_invalid_event(change: dict) -> None:
    event = {
        "routing_key": "0" * 32,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info"},
        **change,
    }
    with pytest.raises(ValidationError) as caught:
        PagerDutyEvent.model_validate(event)
    assert any("NUL" in message or "NaN" in message for message in pagerduty_errors(caught.value))
