"""The pipeline bench without its stack: options, payloads, /proc readings and the summary table.

The bench itself runs with `make bench`, never in the test suite.
"""

from __future__ import annotations

import os

import pytest

from tests.bench import pipeline
from tierline_intake.entrypoints.alertmanager import AlertmanagerWebhook
from tierline_intake.entrypoints.schemas import IncidentIn


def test_defaults_and_quick_are_bounded() -> None:
    full, quick = pipeline.parse_args([]), pipeline.parse_args(["--quick"])
    assert full.rates == (50, 100, 200) and full.connections == 16 and full.fsync and full.install
    assert quick.quick and quick.rate_seconds < full.rate_seconds and quick.post_seconds < full.post_seconds

    def planned(o: pipeline.Options) -> float:  # the phases' own bounds, startup and warm-up aside
        levels = len(o.rates) * (o.level_drain_seconds + o.rate_seconds + o.grace_seconds)
        am = 2 * o.level_drain_seconds + o.am_seconds + o.am_real_seconds
        return o.pg_seconds + o.post_seconds + o.drain_seconds + levels + am

    assert planned(full) <= 240 and planned(quick) <= 60


def test_options_are_clamped() -> None:
    o = pipeline.parse_args(["--rates", "0", "99999", "--rate-seconds", "9999", "--connections", "0"])
    assert o.rates == (1, 2000) and o.rate_seconds == 60 and o.connections == 1
    o = pipeline.parse_args(["--quick", "--no-fsync", "--no-install", "--post-seconds", "7"])
    assert o.post_seconds == 7 and not o.fsync and not o.install


def test_unknown_option_is_refused() -> None:
    with pytest.raises(SystemExit):
        pipeline.parse_args(["--forever"])


def test_payloads_are_what_intake_accepts() -> None:
    IncidentIn.model_validate(pipeline.incident_body(7))
    alerts = [pipeline.alert(i, "run1", "2026-01-01T00:00:00Z") for i in range(pipeline.AM_BATCH)]
    hook = AlertmanagerWebhook.model_validate(pipeline.webhook(alerts))
    assert len({a.fingerprint for a in hook.alerts}) == pipeline.AM_BATCH  # an alert storm: all distinct


def test_quantile() -> None:
    assert pipeline.quantile([], 0.5) is None
    assert pipeline.quantile([0.2], 0.99, 1000) == 200
    values = [i / 100 for i in range(1, 101)]
    assert pipeline.quantile(values, 0.5) == pytest.approx(0.505)
    assert pipeline.quantile(values, 0.99, 1000) == pytest.approx(990.1)


def test_proc_readings_of_this_process() -> None:
    assert pipeline.cpu_seconds(os.getpid()) > 0
    rss, peak = pipeline.memory_mb(os.getpid())
    assert 0 < rss <= peak
    assert pipeline.memory_mb(2**22 + 12345) == (0.0, 0.0)  # gone: no figure, no error


def _results() -> pipeline.Results:
    r = pipeline.Results(quick=True, load_before=(1.0, 1.5, 2.0), startup_s=14, elapsed_s=61)
    r.pg_tx_per_s, r.post_per_s, r.post_count = 2564.0, 35.5, 150
    r.e2e_offered, r.e2e_visible, r.e2e_seconds, r.e2e_p50_s, r.e2e_p99_s = 150, 120, 10.0, 7.25, 8.79
    r.am_ours, r.am_real, r.am_ours_cpu_ms = 84.0, 1397.0, 11.5
    r.latencies = [
        pipeline.Latency(10, 100, posted=100, assigned=100, achieved=9.9, p50_ms=130, p99_ms=250),
        pipeline.Latency(50, 150, posted=150, assigned=150, achieved=29.0, p50_ms=1500, p99_ms=3315),
        pipeline.Latency(200, 600, posted=245, assigned=135, p50_ms=3605, p99_ms=4896, backlog_before=12),
    ]
    r.usage = {
        "intake": pipeline.Usage("intake", 22.7, 20.0, 20.0, 104, 115, 116),
        "router": pipeline.Usage("router", 11.2, 5.0, 20.0, 101, 105, 105),
        "postgres": pipeline.Usage("postgres", 9.7, 8.0, 25.0),
    }
    r.mails = 1234
    r.notes.append("something worth saying")
    return r


def test_summary_table() -> None:
    text = "\n".join(pipeline.summary_lines(_results()))
    assert "quick; PostgreSQL fsync on" in text and "load average before 1.00 1.50 2.00" in text
    post = next(line for line in text.splitlines() if line.startswith("intake POST"))
    assert "35.5" in post and "2,564" in post and "0.01" in post
    assert "0.06" in next(line for line in text.splitlines() if line.startswith("Alertmanager"))
    e2e = next(line for line in text.splitlines() if line.startswith("sustained"))
    assert "12.0" in e2e and "0.34" in e2e
    assert "120 of 150 incidents visible (INCOMPLETE" in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("10 ", "50 ", "200 "))]
    assert [row.endswith("saturated") for row in rows] == [False, True, True]  # 50/s: all, but too slowly
    assert "11.50 CPU ms an alert" in text and "0 incidents of earlier phases" in text
    assert "all services" in text and "33.9" in text and "25.0" in text  # postgres is not a service
    assert "notifier: 1,234 emails accepted by the run's SMTP server" in text
    assert text.endswith("note: something worth saying")


def test_summary_of_a_run_that_measured_nothing() -> None:
    text = "\n".join(pipeline.summary_lines(pipeline.Results()))
    assert "n/a" in text and "(not measured)" in text and "all services" not in text
    assert "notifier:" not in text  # no SMTP server ran
