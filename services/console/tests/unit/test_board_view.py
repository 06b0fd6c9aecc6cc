"""The board's view model: countdown text and colour from intake's SLA summary, order, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_console.board_view import (
    Filters,
    countdown,
    format_left,
    parse_filters,
    rows,
    sort_rows,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sla(**fields: Any) -> dict[str, Any]:
    return {
        "clock": "response",
        "due_at": (NOW + timedelta(minutes=30)).isoformat(),
        "remaining_seconds": 1800.0,
        "warning_threshold": None,
        "last_warning": False,
        "breached": False,
        "paused": False,
        **fields,
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0m 00s"),
        (59.9, "0m 59s"),
        (750, "12m 30s"),
        (3_900, "1h 05m"),
        (2 * 86_400 + 4 * 3_600 + 59, "2d 4h"),
        (-190, "-3m 10s"),
        (-0.4, "0m 00s"),
        (-3_600, "-1h 00m"),
    ],
)
def test_time_left_reads_as_a_short_figure(seconds: float, text: str) -> None:
    assert format_left(seconds) == text


def test_a_running_clock_counts_to_its_due_time_and_is_ok_before_any_warning() -> None:
    cd = countdown(sla(), NOW)
    assert cd is not None
    assert (cd.text, cd.level, cd.ticking, cd.paused) == ("30m 00s", "ok", True, False)
    assert cd.due_at == (NOW + timedelta(minutes=30)).isoformat()
    assert cd.css_class == "sla sla-ok" and cd.label == "response on track"


def test_the_first_warning_turns_it_amber_and_the_last_one_red() -> None:
    amber = countdown(sla(warning_threshold=0.5), NOW)
    red = countdown(sla(warning_threshold=0.9, last_warning=True), NOW)
    assert amber is not None and amber.level == "amber" and amber.label == "response warning sent"
    assert red is not None and red.level == "red" and red.css_class == "sla sla-red"


def test_a_breach_is_red_with_a_negative_figure() -> None:
    cd = countdown(
        sla(due_at=(NOW - timedelta(minutes=3, seconds=10)).isoformat(), remaining_seconds=0, breached=True),
        NOW,
    )
    assert cd is not None
    assert (cd.text, cd.level, cd.breached) == ("-3m 10s", "red", True)
    assert cd.label == "response breached"


def test_past_due_before_the_breach_is_announced_is_already_red() -> None:
    cd = countdown(sla(due_at=(NOW - timedelta(seconds=5)).isoformat(), remaining_seconds=0), NOW)
    assert cd is not None and cd.level == "red" and cd.text == "-0m 05s"


def test_a_breach_announced_a_moment_early_shows_no_time_left() -> None:
    cd = countdown(sla(due_at=(NOW + timedelta(seconds=2)).isoformat(), breached=True), NOW)
    assert cd is not None and cd.text == "0m 00s" and cd.level == "red"


def test_a_paused_clock_is_frozen_with_a_pause_mark_and_does_not_tick() -> None:
    cd = countdown(sla(due_at=None, remaining_seconds=3_900.0, paused=True, warning_threshold=0.5), NOW)
    assert cd is not None
    assert (cd.text, cd.level, cd.ticking, cd.due_at) == ("1h 05m", "amber", False, None)
    assert cd.css_class == "sla sla-amber sla-paused" and cd.label.endswith(", paused")


def test_a_breached_clock_without_a_time_says_breached() -> None:
    cd = countdown(sla(due_at=None, remaining_seconds=0, breached=True, paused=True), NOW)
    assert cd is not None and cd.text == "breached" and cd.level == "red"


def test_no_clock_no_countdown() -> None:
    assert countdown(None, NOW) is None


def incident(iid: str, **fields: Any) -> dict[str, Any]:
    return {"id": iid, "priority": "P3", "created_at": "2026-03-02T08:00:00+00:00", "sla": None, **fields}


def test_sorted_by_time_left_overdue_first_paused_after_running_no_sla_last() -> None:
    items = [
        incident("none"),
        incident("paused", sla=sla(due_at=None, remaining_seconds=10, paused=True)),
        incident("later", sla=sla(due_at=(NOW + timedelta(hours=2)).isoformat())),
        incident("breached", sla=sla(due_at=(NOW - timedelta(minutes=1)).isoformat(), breached=True)),
        incident("soon", sla=sla(due_at=(NOW + timedelta(minutes=5)).isoformat())),
    ]
    order = [r.id for r in sort_rows(rows(items, NOW))]
    assert order == ["breached", "soon", "later", "paused", "none"]


def test_equal_time_left_goes_by_priority_then_age() -> None:
    due = sla(due_at=(NOW + timedelta(minutes=5)).isoformat())
    items = [
        incident("p3-new", sla=due, created_at="2026-03-02T08:30:00+00:00"),
        incident("p3-old", sla=due, created_at="2026-03-02T07:30:00+00:00"),
        incident("p1", priority="P1", sla=due),
    ]
    assert [r.id for r in sort_rows(rows(items, NOW))] == ["p1", "p3-old", "p3-new"]


def test_other_orders_priority_and_newest() -> None:
    items = [
        incident("p2", priority="P2", created_at="2026-03-02T08:10:00+00:00"),
        incident("p1", priority="P1", created_at="2026-03-02T07:10:00+00:00"),
        incident("p4", priority="P4", created_at="2026-03-02T08:50:00+00:00"),
    ]
    assert [r.id for r in sort_rows(rows(items, NOW), "priority")] == ["p1", "p2", "p4"]
    assert [r.id for r in sort_rows(rows(items, NOW), "newest")] == ["p4", "p2", "p1"]


def test_a_row_says_since_when_it_waits() -> None:
    (row,) = rows([incident("w", waiting_since="2026-03-02T08:12:00+00:00")], NOW)
    assert row.waiting_since == "02 Mar 08:12 UTC"
    (held,) = rows([incident("h", assignee="bob", waiting_since=None)], NOW)
    assert held.waiting_since is None


def test_filters_from_the_form_go_to_intake_and_back_into_links() -> None:
    filters, errors = parse_filters(
        {
            "queue": ["network", " ", "network"],
            "priority": ["P1", "P2"],
            "service": ["vpn"],
            "status": [""],
            "type": ["incident"],
            "sort": ["priority"],
        }
    )
    assert errors == []
    assert filters == Filters(
        queue=["network"], priority=["P1", "P2"], service="vpn", status=[], type=["incident"], sort="priority"
    )
    assert filters.upstream_params(tier="L1") == {
        "status": ["open", "acknowledged", "on_hold"],
        "tier": "L1",
        "queue": ["network"],
        "priority": ["P1", "P2"],
        "type": ["incident"],
        "service": "vpn",
    }
    assert filters.query() == "queue=network&priority=P1&priority=P2&service=vpn&type=incident&sort=priority"


def test_a_queue_board_keeps_its_own_queue() -> None:
    filters, _ = parse_filters({"queue": ["other"], "status": ["on_hold"]})
    assert filters.upstream_params(queue="network") == {"status": ["on_hold"], "queue": "network"}


def test_no_filters_mean_every_open_incident_sorted_by_time_left() -> None:
    filters, errors = parse_filters({})
    assert errors == [] and filters == Filters() and filters.query() == ""


def test_bad_filters_are_named_with_their_reason() -> None:
    _, errors = parse_filters(
        {
            "priority": ["P9"],
            "status": ["resolved"],
            "type": ["<b>"],
            "sort": ["random"],
            "service": ["a", "b"],
            "queue": ["q" * 121],
        }
    )
    assert errors == [
        "queue: longer than 120 characters",
        "service: give one service",
        "sort: 'random' is not one of sla, priority, newest",
        "priority: 'P9' is not one of P1, P2, P3, P4",
        "status: 'resolved' is not one of open, acknowledged, on_hold",
        "type: '<b>' is not one of incident, service_request",
    ]
