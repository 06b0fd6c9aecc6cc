"""The KPI and backlog reports over facts rows written by hand, every expected figure worked out below.

T0 is Monday 2026-11-02 09:00 UTC. The reporting window is [T0 - 1 h, T0 + 7 d).

- A (vpn, phone, P3): created T0; bob (L1, queue sd) from +1 min to its resolution at +10 min; acked at
  +2 min; knowledge article; CSAT 5; first contact; response and resolution met.
- B (vpn, email, P3): created +1 min; bob (L1) +2 → +30 min, escalated; carol (L2, net-l2) +30 → +90 min,
  10 min on hold, resolved; acked +5 min (240 s after creation); CSAT 2; response met, resolution breached.
- C (vpn, web, P3): created +2 min; waits in L1 queue sd (no agent) from +3 min; open.
- D (db, chat, P1, service_request): created T0 + 1 d; acked after 30 s; escalated L1 → L2 → L3 → L4 and
  handed to vendor acme 10 min after creation, acked by it at 20 min, resolved by it at 100 min (response
  met, resolution breached); reopened once; resolved 2 h after creation; response breached. No stints.
- E (mail, web, P2): created T0 - 3 d, resolved T0 - 2 d: outside everything but the flow's past.
- F (vpn, P4): created T0 - 40 d, held by L2 (net-l2) since; open.  G (vpn, P4): T0 - 15 d, no stint; open.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tierline_intake.adapters.orm import IncidentFacts, IncidentStint
from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_shared import migrations

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-report-tests"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
WINDOW = {"from": (T0 - H).isoformat(), "to": (T0 + 7 * D).isoformat()}
# what is written (PostgreSQL computes the generated columns: durations, tier bits, the UTC day)
FACT_COLUMNS = [c.name for c in IncidentFacts.__table__.columns if c.computed is None]
STINT_COLUMNS = [c.name for c in IncidentStint.__table__.columns if c.computed is None]


def report_client(infra: Any, url: str) -> Iterator[TestClient]:
    migrations.upgrade(MIGRATIONS, url)
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        bootstrap_api_key=ADMIN_KEY,
        config_dir=CONFIG_DIR,
        kafka_topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        rate_limit_per_minute=0,
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        client.database_url = url  # type: ignore[attr-defined]
        yield client


def fact(**fields: Any) -> dict[str, Any]:
    """A facts row: an open, unassigned vpn incident created at T0 unless ``fields`` say otherwise."""
    row: dict[str, Any] = {
        "incident_id": uuid.uuid4(),
        "created_at": T0,
        "service": "vpn",
        "category": "network",
        "priority": "P3",
        "channel": "web",
        "type": "incident",
        "status": "open",
        "tier": None,
        "queue": None,
        "agent": None,
        "vendor": None,
        "first_ack_at": None,
        "resolved_at": None,
        "reopen_count": 0,
        "reassignments": 0,
        "l1_only": True,
        "first_contact": None,
        "knowledge_linked": False,
        "csat_score": None,
        "tiers_held": [],
        "escalated_from": [],
        "hold_seconds": 0.0,
        "handled_seconds": 0.0,  # write_facts sums the stints' (as derive does)
        "handled_stints": 0,
        "response_met": None,
        "resolution_met": None,
        "breached": False,
        "vendor_handoff_at": None,
        "vendor_ack_at": None,
        "vendor_resolved_at": None,
        "vendor_rejected": False,
        "vendor_failed": False,
        "vendor_response_met": None,
        "vendor_resolution_met": None,
        "refreshed_at": T0,
    }
    unknown = fields.keys() - row.keys()
    assert not unknown, unknown
    return row | fields


def stint(incident_id: uuid.UUID, n: int, tier: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"incident_id": incident_id, "n": n, "tier": tier, "queue": None, "agent": None}
    row |= {"vendor": None, "started_at": T0, "ended_at": None, "ended_by": None}
    return row | {"hold_seconds": 0.0, "handle_seconds": None} | fields


def write_facts(
    database_url: str, facts: Sequence[dict[str, Any]], stints: Sequence[dict[str, Any]] = ()
) -> None:
    """Replace every facts and stints row with these (straight into the tables the reports read).

    Each incident's handle-time sum and count, and its stints' copy of its creation, are taken
    from the rows given, as the refresher writes them.
    """
    url = make_url(database_url)
    created = {f["incident_id"]: f["created_at"] for f in facts}
    stints = [{**s, "created_at": created[s["incident_id"]]} for s in stints]
    handled: dict[uuid.UUID, list[float]] = {}
    for s in stints:
        if s["handle_seconds"] is not None:
            handled.setdefault(s["incident_id"], []).append(s["handle_seconds"])
    facts = [
        f
        | {
            "handled_seconds": sum(handled.get(f["incident_id"], [])),
            "handled_stints": len(handled.get(f["incident_id"], [])),
        }
        for f in facts
    ]

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            async with conn.transaction():
                await conn.execute("DELETE FROM incident_stints; DELETE FROM incident_facts")
                for table, columns, rows in (
                    ("incident_facts", FACT_COLUMNS, facts),
                    ("incident_stints", STINT_COLUMNS, stints),
                ):
                    if rows:
                        await conn.copy_records_to_table(
                            table, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
                        )
        finally:
            await conn.close()

    asyncio.run(run())


def dataset() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    f = uuid.uuid4()
    resolved = {"status": "resolved", "first_contact": False}
    facts = [
        fact(
            incident_id=a, channel="phone", tier="L1", queue="sd", agent="bob", first_ack_at=T0 + 2 * M,
            resolved_at=T0 + 10 * M, **resolved | {"first_contact": True}, knowledge_linked=True,
            csat_score=5, tiers_held=["L1"], response_met=True, resolution_met=True,
        ),
        fact(
            incident_id=b, created_at=T0 + M, channel="email", tier="L2", queue="net-l2", agent="carol",
            first_ack_at=T0 + 5 * M, resolved_at=T0 + 90 * M, **resolved, l1_only=False, csat_score=2,
            tiers_held=["L1", "L2"], escalated_from=["L1"], hold_seconds=600.0, response_met=True,
            resolution_met=False, breached=True,
        ),
        fact(incident_id=c, created_at=T0 + 2 * M, tier="L1", queue="sd", tiers_held=["L1"]),
        fact(
            incident_id=d, created_at=T0 + D, service="db", category="database", channel="chat",
            priority="P1", type="service_request", tier="L4", vendor="acme",
            first_ack_at=T0 + D + timedelta(seconds=30), resolved_at=T0 + D + 2 * H, **resolved,
            reopen_count=1, l1_only=False,
            tiers_held=["L1", "L2", "L3", "L4"], escalated_from=["L1", "L2", "L3"], response_met=False,
            breached=True, vendor_handoff_at=T0 + D + 10 * M, vendor_ack_at=T0 + D + 20 * M,
            vendor_resolved_at=T0 + D + 100 * M, vendor_response_met=True, vendor_resolution_met=False,
        ),
        fact(service="mail", priority="P2", created_at=T0 - 3 * D, resolved_at=T0 - 2 * D, **resolved),
        fact(incident_id=f, created_at=T0 - 40 * D, priority="P4", tier="L2", queue="net-l2",
             tiers_held=["L2"]),
        fact(created_at=T0 - 15 * D, priority="P4"),
    ]  # fmt: skip
    stints = [
        stint(a, 1, "L1", queue="sd", agent="bob", started_at=T0 + M, ended_at=T0 + 10 * M,
              ended_by="resolved", handle_seconds=540.0),
        stint(b, 1, "L1", queue="sd", agent="bob", started_at=T0 + 2 * M, ended_at=T0 + 30 * M,
              ended_by="escalated", handle_seconds=1680.0),
        stint(b, 2, "L2", queue="net-l2", agent="carol", started_at=T0 + 30 * M, ended_at=T0 + 90 * M,
              ended_by="resolved", hold_seconds=600.0, handle_seconds=3000.0),
        stint(c, 1, "L1", queue="sd", started_at=T0 + 3 * M),
        stint(f, 1, "L2", queue="net-l2", started_at=T0 - 40 * D),
    ]  # fmt: skip
    return facts, stints


@pytest.fixture(scope="module")
def client(infra, new_database) -> Iterator[TestClient]:
    for c in report_client(infra, new_database("intake_reports")):
        facts, stints = dataset()
        write_facts(c.database_url, facts, stints)  # type: ignore[attr-defined]
        yield c


def kpis(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/reports/kpis", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_totals_of_the_hand_built_facts(client: TestClient) -> None:
    report = kpis(client)
    assert (report["from"], report["group_by"], report["groups"], report["series"]) == (
        "2026-11-02T08:00:00Z", None, [], []
    )  # fmt: skip
    total = report["total"]
    assert (total["created"], total["resolved"], total["reopened"]) == (4, 3, 1)  # A B C D; A B D; D
    assert total["flr"] == pytest.approx(1 / 3) and total["fcr"] == pytest.approx(1 / 3)  # A of A B D
    # L1 held by A B C D, left by B D; L2 held by B D, left by D; L3 held and left by D
    assert total["escalation_rate"] == {"L1": 0.5, "L2": 0.5, "L3": 1.0, "total": 0.5}
    # acknowledged after 120, 240, 30 s; percentile_cont interpolates: p90 = 120 + 0.8 * 120
    assert [total[f"mtta{s}_seconds"] for s in ("", "_p50", "_p90")] == pytest.approx([130, 120, 216])
    # resolved after 600, 5340, 7200 s: p90 = 5340 + 0.8 * 1860
    assert [total[f"mttr{s}_seconds"] for s in ("", "_p50", "_p90")] == pytest.approx([4380, 5340, 6828])
    assert total["aht_seconds"] == pytest.approx((540 + 1680 + 3000) / 3)  # C's waiting stint has none
    assert total["reopen_rate"] == pytest.approx(1 / 3)
    assert total["csat"] == {"responses": 2, "average": 3.5, "good_ratio": 0.5}
    assert total["knowledge_link_rate"] == pytest.approx(1 / 3)
    assert total["sla"] == {
        "response_met_ratio": pytest.approx(2 / 3),
        "resolution_met_ratio": 0.5,
        "breached": 2,
    }
    assert total["vendor"] is None


def test_groups_by_tier_count_stints_where_they_were(client: TestClient) -> None:
    groups = {g["key"]: g for g in kpis(client, group_by="tier")["groups"]}
    assert {k: g["created"] for k, g in groups.items()} == {"L1": 2, "L2": 1, "L4": 1}
    assert (groups["L1"]["resolved"], groups["L1"]["flr"], groups["L1"]["fcr"]) == (1, 1.0, 1.0)
    assert groups["L1"]["aht_seconds"] == pytest.approx((540 + 1680) / 2)  # bob's two L1 stints
    assert groups["L2"]["aht_seconds"] == 3000 and groups["L4"]["aht_seconds"] is None
    assert groups["L4"]["escalation_rate"]["L3"] == 1.0


def test_groups_by_agent_and_null_key(client: TestClient) -> None:
    groups = {g["key"]: g for g in kpis(client, group_by="agent")["groups"]}
    assert {k: g["created"] for k, g in groups.items()} == {"bob": 1, "carol": 1, None: 2}
    assert groups["bob"]["aht_seconds"] == pytest.approx(1110) and groups["carol"]["aht_seconds"] == 3000
    assert groups[None]["aht_seconds"] is None  # C's stint without an agent handled nothing


def test_vendor_scorecard(client: TestClient) -> None:
    groups = {g["key"]: g for g in kpis(client, group_by="vendor")["groups"]}
    assert groups["acme"]["vendor"] == {
        "handed_off": 1,
        "acknowledged": 1,
        "resolved": 1,
        "rejected": 0,
        "failed": 0,
        "mtta_seconds": 600.0,
        "mttr_seconds": 5400.0,
        "response_met_ratio": 1.0,
        "resolution_met_ratio": 0.0,
    }
    none = groups[None]["vendor"]
    assert (none["handed_off"], none["mtta_seconds"], none["response_met_ratio"]) == (0, None, None)
    assert groups[None]["created"] == 3


def test_repeatable_filters(client: TestClient) -> None:
    assert kpis(client, service="vpn")["total"]["created"] == 3
    assert kpis(client, service=["vpn", "db"])["total"]["created"] == 4
    only_d = kpis(client, priority="P1", type="service_request", channel="chat")["total"]
    assert (only_d["created"], only_d["reopen_rate"], only_d["escalation_rate"]["L3"]) == (1, 1.0, 1.0)
    assert kpis(client, queue="sd")["total"]["created"] == 2
    assert kpis(client, category="nothing")["total"]["created"] == 0


def test_daily_series_covers_the_window(client: TestClient) -> None:
    report = kpis(client, interval="day", group_by="service")
    series = report["series"]
    assert len(series) == 8  # Nov 2 (from 08:00) to Nov 9 (until 09:00)
    assert (series[0]["start"], series[0]["end"]) == ("2026-11-02T08:00:00Z", "2026-11-03T00:00:00Z")
    assert series[-1]["end"] == "2026-11-09T09:00:00Z"
    assert [p["total"]["created"] for p in series] == [3, 1, 0, 0, 0, 0, 0, 0]
    assert [(g["key"], g["created"]) for g in series[1]["groups"]] == [("db", 1)]
    assert series[0]["total"]["mttr_seconds"] == pytest.approx((600 + 5340) / 2)
    assert series[2]["total"]["flr"] is None and series[2]["groups"] == []


def test_weekly_series_weeks_start_on_monday(client: TestClient) -> None:
    params = {"from": (T0 - 3 * D).isoformat(), "to": (T0 + 10 * D).isoformat(), "interval": "week"}
    series = client.get("/v1/reports/kpis", params=params).json()["series"]
    assert [(p["start"][:10], p["end"][:10], p["total"]["created"]) for p in series] == [
        ("2026-10-30", "2026-11-02", 1),  # E, created on Friday 30 October
        ("2026-11-02", "2026-11-09", 4),
        ("2026-11-09", "2026-11-12", 0),
    ]


def test_csv_one_row_per_group(client: TestClient) -> None:
    response = client.get(
        "/v1/reports/kpis", params={**WINDOW, "group_by": "tier"}, headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["row"], r["key"], r["created"]) for r in rows] == [
        ("total", "", "4"), ("group", "L1", "2"), ("group", "L2", "1"), ("group", "L4", "1")
    ]  # fmt: skip
    assert {"escalation_rate.L1", "csat.average", "sla.breached", "mtta_p90_seconds"} <= rows[0].keys()
    assert (rows[0]["escalation_rate.L1"], rows[0]["csat.average"], rows[3]["aht_seconds"]) == (
        "0.5",
        "3.5",
        "",
    )


def test_csv_series_rows(client: TestClient) -> None:
    params = {**WINDOW, "interval": "day", "group_by": "service"}
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/v1/reports/kpis", params=params, headers={"Accept": "text/csv"}).text)
        )
    )
    assert len(rows) == 8 + 2  # one total per day, and the groups of the two days with incidents
    assert [(r["start"][:10], r["row"], r["key"], r["created"]) for r in rows[:4]] == [
        ("2026-11-02", "total", "", "3"), ("2026-11-02", "group", "vpn", "3"),
        ("2026-11-03", "total", "", "1"), ("2026-11-03", "group", "db", "1"),
    ]  # fmt: skip


def backlog(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/reports/backlog", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cut(report: dict[str, Any], name: str) -> dict[str | None, int]:
    return {g["key"]: g["open"] for g in report[f"by_{name}"]}


def test_backlog_at_an_instant(client: TestClient) -> None:
    report = backlog(
        client, at=(T0 + D + H).isoformat(), **{"from": T0.isoformat(), "to": (T0 + 7 * D).isoformat()}
    )
    assert report["open"] == 4  # C, D, F, G
    assert report["buckets"] == {"lt_10d": 2, "10d_30d": 1, "gt_30d": 1}
    assert report["oldest_age_seconds"] == pytest.approx((41 * D + H).total_seconds())
    assert cut(report, "tier") == {"L1": 1, "L2": 1, None: 2}  # C at L1, F at L2; D and G never held
    assert cut(report, "queue") == {"sd": 1, "net-l2": 1, None: 2}
    assert cut(report, "priority") == {"P1": 1, "P3": 1, "P4": 2}
    p4 = next(g for g in report["by_priority"] if g["key"] == "P4")
    assert p4["buckets"] == {"lt_10d": 0, "10d_30d": 1, "gt_30d": 1}
    # open at T0: F, G; created A B C D; resolved A B D
    assert report["completion"] == {
        "from": "2026-11-02T09:00:00Z", "to": "2026-11-09T09:00:00Z", "open_at_start": 2,
        "created": 4, "resolved": 3, "open_at_end": 3, "completion_rate": 0.5,
    }  # fmt: skip


def test_backlog_tier_is_the_stint_holding_it_then(client: TestClient) -> None:
    assert cut(backlog(client, at=(T0 + 5 * M).isoformat()), "tier") == {"L1": 3, "L2": 1, None: 1}
    assert cut(backlog(client, at=(T0 + 45 * M).isoformat()), "tier") == {"L1": 1, "L2": 2, None: 1}


def test_backlog_completion_series(client: TestClient) -> None:
    params = {"from": T0.isoformat(), "to": (T0 + 3 * D).isoformat(), "interval": "day", "at": T0.isoformat()}
    series = backlog(client, **params)["series"]
    assert [(c["open_at_start"], c["created"], c["resolved"], c["open_at_end"]) for c in series] == [
        (2, 3, 2, 3), (3, 1, 1, 3), (3, 0, 0, 3), (3, 0, 0, 3)
    ]  # fmt: skip
    assert [c["completion_rate"] for c in series] == [0.4, 0.25, 0.0, 0.0]
    response = client.get("/v1/reports/backlog", params=params, headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["row"] for r in rows].count("interval") == 4 and rows[0]["buckets.lt_10d"] == "1"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("kpis", {"to": "2026-11-02T00:00:00Z"}, "from"),
        ("kpis", {"from": "2026-11-02T00:00:00Z"}, "to"),
        ("kpis", {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
        ("kpis", {"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "to"),
        ("kpis", {"from": "2025-01-01T00:00:00Z", "to": "2026-02-05T00:00:01Z"}, "to"),
        ("kpis", {"from": "2026-11-02T00:00:00", "to": "2026-11-03T00:00:00Z"}, "from"),
        ("kpis", {**WINDOW, "group_by": "colour"}, "group_by"),
        ("kpis", {**WINDOW, "interval": "hour"}, "interval"),
        ("kpis", {**WINDOW, "priority": ["P1", "P9"]}, "priority"),
        ("kpis", {**WINDOW, "channel": "fax"}, "channel"),
        ("kpis", {**WINDOW, "type": "change"}, "type"),
        ("kpis", {**WINDOW, "service": "x" * 121}, "service"),
        ("kpis", {**WINDOW, "queue": ["q"] * 51}, "queue"),
        (
            "kpis",
            {"from": "2025-01-01T12:00:00Z", "to": "2026-02-05T12:00:00Z", "interval": "day"},
            "interval",
        ),
        ("kpis", {"from": "not a time", "to": "2026-02-05T12:00:00Z"}, "from"),
        ("backlog", {"at": "2026-11-02T00:00:00"}, "at"),
        ("backlog", {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
        ("backlog", {"from": "2024-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
        ("backlog", {"at": "2026-11-02T00:00:00Z", "interval": "year"}, "interval"),
    ],
)
def test_bad_input_is_a_problem_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(f"/v1/reports/{path}", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and [e["field"] for e in problem["errors"]] == [field]


def test_a_year_of_days_is_fine_and_weeks_over_400_days_too(client: TestClient) -> None:
    year = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    assert len(kpis(client, **year, interval="day")["series"]) == 365
    long = {"from": "2025-01-01T12:00:00Z", "to": "2026-02-05T12:00:00Z"}
    assert len(kpis(client, **long, interval="week")["series"]) == 58


def test_reports_need_a_key_and_are_documented(client: TestClient) -> None:
    assert client.get("/v1/reports/kpis", params=WINDOW, headers={"Authorization": ""}).status_code == 401
    spec = client.get("/openapi.json").json()
    kpis_doc = spec["components"]["schemas"]["KpisOut"]["properties"]
    assert "HDI" in kpis_doc["fcr"]["description"] and "ITIL" in kpis_doc["mttr_seconds"]["description"]
    assert "MetricNet" in kpis_doc["aht_seconds"]["description"]
    assert "text/csv" in spec["paths"]["/v1/reports/kpis"]["get"]["responses"]["200"]["content"]
    assert spec["paths"]["/v1/reports/backlog"]["get"]["tags"] == ["reports"]
