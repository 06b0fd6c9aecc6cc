"""The reports as properties over generated facts: ratios stay in 0..1 (or null), groups and intervals
add up to the total, the backlog's cuts and buckets add up to what is open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline_intake.adapters.reports import DIMENSIONS

from .test_reports_api import T0, fact, report_client, stint, write_facts

pytestmark = pytest.mark.integration
DAYS = 20
RATIOS = {
    "flr",
    "fcr",
    "L1",
    "L2",
    "L3",
    "total",
    "reopen_rate",
    "good_ratio",
    "knowledge_link_rate",
    "response_met_ratio",
    "resolution_met_ratio",
    "completion_rate",
}
SUMMED = ("created", "resolved", "reopened", "csat.responses", "sla.breached")
TIERS = ("L1", "L2", "L3", "L4")
maybe_bool = st.none() | st.booleans()


@st.composite
def incidents(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    created = T0 + timedelta(minutes=draw(st.integers(0, DAYS * 24 * 60)))
    held = draw(st.lists(st.sampled_from(TIERS), min_size=0, max_size=4, unique=True))
    resolved_after = draw(st.none() | st.integers(0, 10 * 24 * 60))
    resolved = resolved_after is not None
    handoff = draw(st.none() | st.integers(0, 600))
    row = fact(
        incident_id=draw(st.uuids()),
        created_at=created,
        service=draw(st.sampled_from(["vpn", "db", "mail"])),
        priority=draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
        channel=draw(st.sampled_from(["web", "phone", "email"])),
        type=draw(st.sampled_from(["incident", "service_request"])),
        status="resolved" if resolved else "open",
        tier=held[-1] if held else None,
        queue=draw(st.none() | st.sampled_from(["sd", "net"])),
        agent=draw(st.none() | st.sampled_from(["bob", "carol"])),
        vendor="acme" if handoff is not None else None,
        first_ack_at=created + timedelta(seconds=draw(st.integers(0, 7200))) if draw(st.booleans()) else None,
        resolved_at=created + timedelta(minutes=resolved_after) if resolved else None,
        reopen_count=draw(st.integers(0, 2)),
        reassignments=draw(st.integers(0, 2)),
        l1_only=set(held) <= {"L1"},
        first_contact=draw(st.booleans()) if resolved else None,
        knowledge_linked=draw(st.booleans()),
        csat_score=draw(st.none() | st.integers(1, 5)),
        tiers_held=held,
        escalated_from=[t for t in held[:-1] if draw(st.booleans())],
        response_met=draw(maybe_bool),
        resolution_met=draw(maybe_bool),
        breached=draw(st.booleans()),
        vendor_handoff_at=created + timedelta(minutes=handoff) if handoff is not None else None,
        vendor_ack_at=created + timedelta(minutes=handoff + 5)
        if handoff is not None and draw(st.booleans())
        else None,
        vendor_rejected=handoff is not None and draw(st.booleans()),
        vendor_response_met=draw(maybe_bool) if handoff is not None else None,
    )
    stints = [
        stint(
            row["incident_id"],
            n,
            tier,
            queue=draw(st.none() | st.sampled_from(["sd", "net"])),
            agent=draw(st.none() | st.sampled_from(["bob", "carol"])),
            started_at=created + timedelta(minutes=n),
            ended_at=created + timedelta(minutes=n + 1),
            handle_seconds=draw(st.none() | st.floats(0, 3600)),
        )
        for n, tier in enumerate(held)
    ]
    return row, stints


datasets = st.lists(incidents(), min_size=0, max_size=25)


@pytest.fixture(scope="module")
def client(infra, new_database) -> Iterator[TestClient]:
    yield from report_client(infra, new_database("intake_report_props"))


def _value(record: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        record = record[part]
    return record


def _ratios(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name in RATIOS and not isinstance(value, dict):
                yield name, value
            yield from _ratios(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ratios(item)


def _assert_adds_up(total: dict[str, Any], parts: list[dict[str, Any]], where: str) -> None:
    for name in SUMMED:
        assert sum(_value(p, name) for p in parts) == _value(total, name), f"{name} of {where}"


def _load(client: TestClient, data: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    write_facts(client.database_url, [f for f, _ in data], [s for _, stints in data for s in stints])  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=datasets, group_by=st.sampled_from(DIMENSIONS), interval=st.sampled_from(["day", "week", "month"])
)
def test_kpis_ratios_bounded_and_parts_add_up(
    client: TestClient, data: list[Any], group_by: str, interval: str
) -> None:
    _load(client, data)
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(days=DAYS + 1)).isoformat()}
    response = client.get("/v1/reports/kpis", params={**window, "group_by": group_by, "interval": interval})
    assert response.status_code == 200, response.text
    report = response.json()
    for name, value in _ratios(report):
        assert value is None or 0.0 <= value <= 1.0, (name, value)
    total = report["total"]
    assert total["created"] == len(data)
    _assert_adds_up(total, report["groups"], "the groups")
    _assert_adds_up(total, [p["total"] for p in report["series"]], "the series")
    for point in report["series"]:
        _assert_adds_up(point["total"], point["groups"], f"the groups of {point['start']}")
    if group_by == "vendor":
        assert sum(g["vendor"]["handed_off"] for g in report["groups"]) == sum(
            f["vendor_handoff_at"] is not None for f, _ in data
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=datasets, at_minutes=st.integers(0, DAYS * 24 * 60), span_days=st.integers(1, DAYS))
def test_backlog_cuts_and_buckets_add_up(
    client: TestClient, data: list[Any], at_minutes: int, span_days: int
) -> None:
    _load(client, data)
    at = T0 + timedelta(minutes=at_minutes)
    params = {
        "at": at.isoformat(),
        "from": T0.isoformat(),
        "to": (T0 + timedelta(days=span_days)).isoformat(),
    }
    response = client.get("/v1/reports/backlog", params={**params, "interval": "day"})
    assert response.status_code == 200, response.text
    report = response.json()
    expected_open = sum(
        f["created_at"] <= at and (f["resolved_at"] is None or f["resolved_at"] > at) for f, _ in data
    )
    assert report["open"] == expected_open == sum(report["buckets"].values())
    for name in ("tier", "queue", "priority"):
        assert sum(g["open"] for g in report[f"by_{name}"]) == expected_open, name
    for name, value in _ratios(report):
        assert value is None or 0.0 <= value <= 1.0, (name, value)
    completion, series = report["completion"], report["series"]
    assert completion["created"] == sum(c["created"] for c in series)
    assert completion["resolved"] == sum(c["resolved"] for c in series)
    assert series[-1]["open_at_end"] == completion["open_at_end"] >= 0
