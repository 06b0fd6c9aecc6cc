"""The dashboard's view model: durations and ratios in words, the period, and the charts' data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tierline_console import dashboard_view as view

TODAY = date(2026, 3, 20)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0s"),
        (44.6, "45s"),
        (125, "2m 5s"),
        (600, "10m"),
        (12 * 60 + 30, "12m"),
        (3 * 3600 + 20 * 60, "3h 20m"),
        (7200, "2h"),
        (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
        (86400, "1d"),
        (-5, "0s"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert view.format_duration(seconds) == text


@pytest.mark.parametrize(
    ("ratio", "text"), [(None, "—"), (0.0, "0.0%"), (0.875, "87.5%"), (1.0, "100.0%"), (1 / 3, "33.3%")]
)
def test_ratios_are_percentages_and_none_is_a_dash(ratio: float | None, text: str) -> None:
    assert view.format_ratio(ratio) == text


def test_the_default_period_is_the_last_30_days_per_day() -> None:
    period, errors = view.parse_period({}, TODAY)
    assert errors == []
    assert (period.first, period.last, period.days) == (date(2026, 2, 19), TODAY, 30)
    assert period.start == datetime(2026, 2, 19, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 21, tzinfo=UTC)
    assert period.interval == "day" and period.preset(TODAY) == 30


def test_presets_and_dates() -> None:
    period, _ = view.parse_period({"days": "90"}, TODAY)
    assert period.days == 90 and period.interval == "week" and period.preset(TODAY) == 90
    period, errors = view.parse_period({"from": "2026-03-01", "to": "2026-03-07"}, TODAY)
    assert errors == [] and period.days == 7 and period.preset(TODAY) is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"days": "8"}, "days: one of 7, 30, 90"),
        ({"from": "yesterday"}, "from: 'yesterday' is not a date (YYYY-MM-DD)"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to: must not be before from"),
        ({"to": "2026-03-21"}, "to: must not be after today"),
        ({"to": "9999-12-31"}, "to: must not be after today"),
        ({"from": "2024-01-01"}, "from: a period spans at most 400 days"),
    ],
)
def test_a_bad_period_is_named_in_words(params: dict[str, str], error: str) -> None:
    period, errors = view.parse_period(params, TODAY)
    assert errors == [error]
    assert period == view.last_days(30, TODAY)  # the page still shows the default period's form


def test_the_backlog_is_taken_at_the_periods_end_or_now() -> None:
    period = view.Period(date(2026, 3, 1), date(2026, 3, 7))
    assert period.backlog_at(datetime(2026, 3, 20, 9, tzinfo=UTC)) == datetime(2026, 3, 8, tzinfo=UTC)
    assert period.backlog_at(datetime(2026, 3, 5, 9, tzinfo=UTC)) == datetime(2026, 3, 5, 9, tzinfo=UTC)


def point(start: str, **total: object) -> dict[str, object]:
    return {"start": f"{start}T00:00:00Z", "end": "x", "total": total, "groups": []}


def test_chart_data_are_the_series_with_gaps_for_none() -> None:
    series = [
        point(
            "2026-03-01", created=4, resolved=2, fcr=0.5, mttr_seconds=5400, sla={"response_met_ratio": 1.0}
        ),
        point(
            "2026-03-02", created=0, resolved=0, fcr=None, mttr_seconds=None, sla={"response_met_ratio": None}
        ),
    ]
    charts = {c.id: c.data for c in view.charts(series, "day")}
    assert charts["chart-volume"] == {
        "type": "bar",
        "unit": "incidents",
        "labels": ["2026-03-01", "2026-03-02"],
        "datasets": [{"label": "Created", "data": [4, 0]}, {"label": "Resolved", "data": [2, 0]}],
    }
    assert charts["chart-fcr"]["datasets"] == [{"label": "FCR", "data": [50.0, None]}]
    assert charts["chart-mttr"]["datasets"][0]["data"] == [1.5, None]
    assert charts["chart-sla"]["datasets"][0] == {"label": "Response met", "data": [100.0, None]}
    assert charts["chart-sla"]["datasets"][1]["data"] == [None, None]
    rows = view.trend_rows(series, "week")
    assert rows[0] == view.TrendRow("week of 2026-03-01", 4, 2, "50.0%", "1h 30m", "100.0%", "—")
    assert rows[1].fcr == "—" and rows[1].mttr == "—"


def test_headline_figures_and_the_vendor_scorecard() -> None:
    kpis = {
        "created": 10,
        "resolved": 8,
        "fcr": 0.25,
        "flr": None,
        "mtta_seconds": 90,
        "mttr_p90_seconds": 7200,
        "escalation_rate": {"L1": 0.5, "L2": None, "L3": 0.0, "total": 0.3},
        "csat": {"responses": 1, "average": 4.0, "good_ratio": 1.0},
        "sla": {"response_met_ratio": 0.9, "resolution_met_ratio": None, "breached": 2},
    }
    figures = {f.label: (f.value, f.note) for f in view.headline(kpis)}
    assert figures["First-contact resolution (FCR)"] == ("25.0%", "of resolved")
    assert figures["First-level resolution (FLR)"][0] == "—"
    assert figures["MTTA"][0] == "1m 30s" and figures["MTTR p90"][0] == "2h" and figures["MTTR"][0] == "—"
    assert figures["CSAT"] == ("4.0 / 5", "1 response") and figures["SLA breached"][0] == "2"
    assert view.escalation_by_tier(kpis) == [("L1", "50.0%"), ("L2", "—"), ("L3", "0.0%")]
    groups = [
        {"key": None, "vendor": {"handed_off": 0}},
        {
            "key": "acme",
            "vendor": {
                "handed_off": 3,
                "acknowledged": 2,
                "resolved": 1,
                "rejected": 1,
                "failed": 0,
                "mtta_seconds": 1800,
                "mttr_seconds": None,
                "response_met_ratio": 0.5,
                "resolution_met_ratio": None,
            },
        },
    ]
    assert view.vendor_rows(groups) == [view.VendorRow("acme", 3, 2, 1, 1, 0, "30m", "—", "50.0%", "—")]


def test_backlog_buckets_by_their_api_names() -> None:
    report = {
        "open": 6,
        "buckets": {"lt_10d": 3, "10d_30d": 2, "gt_30d": 1},
        "oldest_age_seconds": 40 * 86400,
        "by_tier": [{"key": "L1", "open": 6, "buckets": {"lt_10d": 3, "10d_30d": 2, "gt_30d": 1}}],
        "completion": {"completion_rate": 0.75},
    }
    b = view.backlog(report)
    assert (b.open, b.lt_10d, b.d10_30, b.gt_30d, b.oldest, b.completion) == (6, 3, 2, 1, "40d", "75.0%")
    assert b.by_tier == [("L1", 6, 3, 2, 1)]
