"""After the faults: wait until the system converges, then judge it from its databases and its topics.

Lost: an incident intake accepted (or created though the client never heard so) that is missing from
intake's database, was never assigned by the router, never given its response, resolution and tier
clocks by the SLA monitor, or never became visible (assigned, with those clocks) in intake's read
model (held by a queue, or at L4 by a vendor). Duplicated: two incidents for one Idempotency-Key;
two ``incident.created`` for one incident; two ``incident.assigned`` for one incident and step (tier,
reason, queue, assignee); two clocks of one kind (and tier) for one incident, in the SLA monitor's
table or as ``sla.clock_started`` events; two ``sla.breached`` for one clock. The relay publishes at
least once, so the same event id seen twice is a harmless redelivery (counted, not a duplicate):
duplicates are distinct event ids.

The vendor (tests/chaos/vendor.py) records every webhook delivery: an incident the router put at L4
that the vendor never received is lost; one webhook id delivered with two different bodies is a
duplicate; the same webhook id with the same body again (a retry after a 500 or a timeout, or a
redelivery after a crash between the vendor's 2xx and the gateway's commit) is harmless and counted.

The notifier: an incident the router assigned for which the notifier owes no message for an
``incident.assigned`` (the assignee's, the queue's while nobody is free, or a skipped one) is lost;
so is a message it marked sent that the run's SMTP server never received (each email's Message-ID is
its notification row's id). At most one row per (event, recipient, contact) is the table's unique
constraint, so it is not counted here; the same Message-ID received again (a crash between the
server's 250 and the row's update) is harmless and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.chaos.faults import Fault
from tests.chaos.load import Load
from tierline_launcher.procs import say
from tierline_shared.messaging.kafka import new_admin

CLOCKS = ("response", "resolution", "tier")
CREATED = "tierline.incident.created.v1"
ASSIGNED = "tierline.incident.assigned.v1"
CLOCK_STARTED = "tierline.sla.clock_started.v1"
BREACHED = "tierline.sla.breached.v1"
WARNING = "tierline.sla.warning.v1"
NOTIFIED_OF_ASSIGNMENT = ("assigned", "team_waiting")  # the kinds an incident.assigned owes
EXAMPLES = 10  # ids listed per finding

OURS_SQL = """
SELECT i.id, i.title, (i.queue IS NOT NULL OR i.vendor IS NOT NULL)
       AND (SELECT count(DISTINCT s.clock) FROM incident_sla s
            WHERE s.incident_id = i.id AND s.clock = ANY($2::text[])) = cardinality($2::text[]) AS visible
FROM incidents i WHERE i.title LIKE $1
"""


@dataclass
class Verdict:
    incidents: int = 0
    posted: int = 0
    accepted: int = 0
    refused: int = 0
    refused_reasons: dict[str, int] = field(default_factory=dict)
    refused_first_sent_during: dict[str, int] = field(default_factory=dict)  # fault kind -> refused POSTs
    retried: int = 0
    replayed: int = 0
    created_unacknowledged: int = 0  # in intake's database though the client was refused
    lost: dict[str, list[str]] = field(default_factory=dict)  # reason -> incident ids
    duplicated: dict[str, list[str]] = field(default_factory=dict)  # what -> examples
    redelivered_events: int = 0
    sla_warnings: int = 0  # distinct sla.warning events
    sla_breaches: int = 0  # distinct sla.breached events: the "two breaches of one clock" check saw these
    escalated_to_l4: int = 0
    escalations_given_up: dict[str, int] = field(default_factory=dict)
    vendor_deliveries: int = 0  # requests the vendor received
    vendor_answers: dict[str, int] = field(default_factory=dict)  # its (seeded, faulty) answers
    vendor_redelivered_same_content: int = 0
    notifications: dict[str, int] = field(default_factory=dict)  # the notifier's rows by status
    mails_received: int = 0  # messages the run's SMTP server accepted
    mails_received_again: int = 0  # the same Message-ID again (harmless)
    dlq: dict[str, dict[str, int]] = field(default_factory=dict)  # topic -> reason -> count
    converged: bool = False
    converge_seconds: float | None = None
    converge_from: str = "the later of the last fault's recovery and the last POST's answer"
    latency_worst_s: float | None = None
    latency_p99_s: float | None = None
    latency_worst_during_faults_s: float | None = None
    latency_worst_after_faults_s: float | None = None
    faults: list[dict[str, object]] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    readiness_at_end: dict[str, int | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float | None = None
    judged: bool = False  # the checks all ran (a run that failed before them proves nothing)

    @property
    def lost_count(self) -> int:
        return len({i for ids in self.lost.values() for i in ids})

    @property
    def duplicated_count(self) -> int:
        return sum(len(v) for v in self.duplicated.values())

    @property
    def ok(self) -> bool:
        return self.judged and self.lost_count == 0 and self.duplicated_count == 0 and self.converged

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out |= {"lost_count": self.lost_count, "duplicated_count": self.duplicated_count, "ok": self.ok}
        out["lost"] = {k: {"count": len(v), "examples": v[:EXAMPLES]} for k, v in self.lost.items()}
        out["duplicated"] = {
            k: {"count": len(v), "examples": v[:EXAMPLES]} for k, v in self.duplicated.items()
        }
        return out

    def lines(self) -> list[str]:
        def s(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}s"

        word = "PASS" if self.ok else "FAIL" if self.judged else "FAIL (not judged)"
        lines = [
            f"chaos verdict: {word} ({self.incidents:,} incidents,"
            f" {len(self.faults)} faults, {s(self.elapsed_s)})",
            f"  accepted {self.accepted:,}  refused {self.refused:,}  lost {self.lost_count:,}"
            f"  duplicated {self.duplicated_count:,}",
            f"  POSTs retried {self.retried:,} (replayed by Idempotency-Key {self.replayed:,});"
            f" created though refused to the client {self.created_unacknowledged:,};"
            f" events redelivered (same id) {self.redelivered_events:,}",
            f"  converged: {'yes' if self.converged else 'NO'} in {s(self.converge_seconds)}"
            f" after {self.converge_from}",
            f"  POST -> incident.assigned: worst {s(self.latency_worst_s)}, p99 {s(self.latency_p99_s)};"
            f" worst posted during faults {s(self.latency_worst_during_faults_s)},"
            f" after {s(self.latency_worst_after_faults_s)}",
        ]
        lines += [
            f"  SLA: {self.sla_warnings:,} warnings, {self.sla_breaches:,} breaches"
            " (each checked: one breach per clock)",
            f"  L4: {self.escalated_to_l4:,} escalated by hand; vendor received {self.vendor_deliveries:,}"
            f" deliveries, answered {self.vendor_answers}; same webhook id and content again"
            f" {self.vendor_redelivered_same_content:,} (harmless)",
        ]
        lines.append(
            f"  notifier: rows by status {self.notifications}; SMTP server received {self.mails_received:,}"
            f" mails; same Message-ID again {self.mails_received_again:,} (harmless)"
        )
        lines += [f"  escalation given up: {n:,} x {why}" for why, n in self.escalations_given_up.items()]
        lines += [f"  refused: {n:,} x {reason}" for reason, n in self.refused_reasons.items()]
        if self.refused_first_sent_during:
            lines.append(
                f"  refused, by the fault under way at the first attempt: {self.refused_first_sent_during}"
            )
        lines += [f"  LOST ({len(v):,}): {k}; e.g. {', '.join(v[:3])}" for k, v in self.lost.items()]
        lines += [
            f"  DUPLICATED ({len(v):,}): {k}; e.g. {'; '.join(v[:3])}" for k, v in self.duplicated.items()
        ]
        for topic, reasons in self.dlq.items():
            for reason, n in reasons.items():
                lines.append(f"  DLQ {topic}: {n:,} x {reason}")
        if not self.dlq:
            lines.append("  DLQ: empty")
        lines += [
            f"  fault {f['kind']}: held {f['hold_s']}s, whole again after {f['fault_to_recovered_s']}s"
            + (f" ({f['note']})" if f["note"] else "")
            for f in self.faults
        ]
        if self.unexpected_exits:
            lines.append(f"  exited by themselves (restarted): {', '.join(self.unexpected_exits)}")
        lines.append(f"  /readyz at the end: {self.readiness_at_end}")
        lines += [f"  note: {n}" for n in self.notes]
        return lines


def count_client_side(load: Load, verdict: Verdict, faults: Sequence[Fault] = ()) -> None:
    verdict.incidents, verdict.posted = load.incidents, len(load.posts)
    verdict.accepted, verdict.refused = load.accepted, load.refused
    verdict.retried, verdict.replayed = load.retried, load.replays
    refused = [p for p in load.posts.values() if p.error]
    verdict.refused_reasons = dict(Counter(p.error[:120] for p in refused).most_common())

    def during(at: float) -> str:
        for f in faults:
            if f.started_at and f.recovered_at and f.started_at <= at <= f.recovered_at:
                return f.kind
        return "no fault"

    verdict.refused_first_sent_during = dict(Counter(during(p.sent_at) for p in refused).most_common())


async def converge(
    dsn: dict[str, Any],
    load: Load,
    *,
    since: Callable[[], float],
    bound: float,
    waiting: Callable[[], str | Awaitable[str]] = lambda: "",
) -> tuple[bool, float | None]:
    """Poll intake's read model until every incident of the run is visible and ``waiting()`` says
    nothing is still awaited; (converged, seconds)."""
    deadline = time.monotonic() + bound
    last_say = 0.0
    pattern = f"chaos {load.run_id} %"
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(**dsn, timeout=5)
            try:
                rows = await conn.fetch(OURS_SQL, pattern, list(CLOCKS))
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            say(f"converge: intake's database did not answer ({type(exc).__name__}); trying again")
            await asyncio.sleep(1)
            continue
        visible = {str(r["id"]) for r in rows if r["visible"]}
        accepted = {p.incident_id for p in load.posts.values() if p.incident_id}
        awaited = waiting()
        if inspect.isawaitable(awaited):
            awaited = await awaited
        if load.done.is_set() and len(visible) == len(rows) and accepted <= visible and not awaited:
            return True, max(0.0, time.time() - since())
        if time.monotonic() - last_say >= 5:
            last_say = time.monotonic()
            say(
                f"converging: {len(visible):,} of {len(rows):,} incidents visible;"
                f" {awaited + '; ' if awaited else ''}{load.progress()}"
            )
        await asyncio.sleep(0.5)
    return False, None


async def judge(
    load: Load,
    verdict: Verdict,
    *,
    dsns: dict[str, dict[str, Any]],
    bootstrap: str,
    faults_window: tuple[float, float],
    deliveries: Sequence[dict[str, Any]] = (),
    mail_ids: Callable[[], Counter[str]] = Counter,
) -> None:
    """Fill ``verdict`` from intake's, the router's, the SLA monitor's and the notifier's databases, a
    topic scan, the vendor's record of deliveries and the Message-IDs the SMTP server received (read
    after the notifier's rows: a row is marked sent only once the server has the mail)."""
    intake = await asyncpg.connect(**dsns["intake"])
    try:
        rows = await intake.fetch(OURS_SQL, f"chaos {load.run_id} %", list(CLOCKS))
    finally:
        await intake.close()
    by_key: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_key[r["title"].split(" ")[2].rstrip(":")].append(str(r["id"]))
    ids = {str(r["id"]) for r in rows}
    accepted = {p.key: p.incident_id for p in load.posts.values() if p.incident_id}
    lost: dict[str, list[str]] = defaultdict(list)
    dup: dict[str, list[str]] = defaultdict(list)
    lost["accepted but not in intake's database"] = sorted(i for i in accepted.values() if i not in ids)
    lost["not visible in intake's read model (assigned with its clocks)"] = sorted(
        str(r["id"]) for r in rows if not r["visible"]
    )
    dup["incidents for one Idempotency-Key"] = [f"{k}: {v}" for k, v in by_key.items() if len(v) > 1]
    verdict.created_unacknowledged = sum(1 for k in by_key if k not in accepted)
    universe = [uuid.UUID(i) for i in ids | set(accepted.values())]

    router = await asyncpg.connect(**dsns["router"])
    try:
        assigned = {
            str(r[0])
            for r in await router.fetch(
                "SELECT incident_id FROM assignments WHERE incident_id = ANY($1::uuid[])", universe
            )
        }
    finally:
        await router.close()
    lost["never assigned by the router"] = sorted(str(i) for i in universe if str(i) not in assigned)

    sla = await asyncpg.connect(**dsns["sla-monitor"])
    try:
        clock_rows = await sla.fetch(
            "SELECT incident_id, kind, coalesce(tier, '') AS tier, count(*) AS n FROM clocks"
            " WHERE incident_id = ANY($1::uuid[]) GROUP BY 1, 2, 3",
            universe,
        )
    finally:
        await sla.close()
    kinds: dict[str, set[str]] = defaultdict(set)
    for r in clock_rows:
        kinds[str(r["incident_id"])].add(r["kind"])
        if r["n"] > 1:
            dup["clocks of one kind for one incident (SLA monitor's table)"].append(
                f"{r['incident_id']} {r['kind']} {r['tier']} x{r['n']}"
            )
    lost["missing a response, resolution or tier clock"] = sorted(
        str(i) for i in universe if not set(CLOCKS) <= kinds[str(i)]
    )

    if "notifier" in dsns:
        notifier = await asyncpg.connect(**dsns["notifier"])
        try:
            notification_rows = await notifier.fetch(NOTIFICATIONS_SQL, universe)
        finally:
            await notifier.close()
        notifier_findings(notification_rows, assigned, mail_ids(), verdict, lost)

    first_assigned = await scan_topics(bootstrap, verdict, dup)
    vendor_findings(load, deliveries, verdict, lost, dup)
    verdict.lost = {k: v for k, v in lost.items() if v}
    verdict.duplicated = {k: v for k, v in dup.items() if v}
    latencies(load, first_assigned, faults_window, verdict)
    verdict.judged = True


NOTIFICATIONS_SQL = """
SELECT id, incident_id, kind, channel, status FROM notifications WHERE incident_id = ANY($1::uuid[])
"""
UNNOTIFIED_SQL = """
SELECT count(*) FROM unnest($1::uuid[]) AS i(id) WHERE NOT EXISTS
  (SELECT 1 FROM notifications n WHERE n.incident_id = i.id AND n.kind = ANY($2::text[]))
"""


def notifier_findings(
    rows: Sequence[Mapping[str, Any]],
    assigned: set[str],
    mail_ids: Counter[str],
    verdict: Verdict,
    lost: dict[str, list[str]],
) -> None:
    """Assignments nobody was notified of, mail marked sent but never received; rows by status."""
    verdict.notifications = dict(Counter(str(r["status"]) for r in rows).most_common())
    verdict.mails_received = sum(mail_ids.values())
    verdict.mails_received_again = sum(n - 1 for n in mail_ids.values() if n > 1)
    told = {str(r["incident_id"]) for r in rows if r["kind"] in NOTIFIED_OF_ASSIGNMENT}
    lost["assigned by the router, no notification owed for it"] = sorted(assigned - told)
    lost["marked sent by the notifier, never received by the SMTP server"] = sorted(
        f"{r['incident_id']} ({r['kind']}, notification {r['id']})"
        for r in rows
        if r["status"] == "sent" and r["channel"] == "email" and f"<{r['id']}@tierline>" not in mail_ids
    )


async def unnotified(dsn: dict[str, Any], incident_ids: Sequence[str]) -> int | None:
    """How many of ``incident_ids`` the notifier owes no message for their assignment yet; None when its
    database does not answer (a fault may be under way)."""
    try:
        conn = await asyncpg.connect(**dsn, timeout=5)
        try:
            ids = [uuid.UUID(i) for i in incident_ids]
            return int(await conn.fetchval(UNNOTIFIED_SQL, ids, list(NOTIFIED_OF_ASSIGNMENT)))
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None


def undelivered(escalated: dict[str, float], deliveries: Sequence[dict[str, Any]]) -> list[str]:
    """Incidents the router put at L4 that the vendor never received."""
    received = {d.get("incident_id") for d in deliveries if d.get("signature_valid")}
    return sorted(i for i in escalated if i not in received)


def vendor_findings(
    load: Load,
    deliveries: Sequence[dict[str, Any]],
    verdict: Verdict,
    lost: dict[str, list[str]],
    dup: dict[str, list[str]],
) -> None:
    """Lost handoffs, webhook ids delivered with two contents, harmless same-content redeliveries."""
    escalated = load.escalated
    verdict.escalated_to_l4 = len(escalated)
    verdict.escalations_given_up = dict(
        Counter(p.escalation_error[:120] for p in load.posts.values() if p.escalation_error).most_common()
    )
    verdict.vendor_deliveries = len(deliveries)
    verdict.vendor_answers = dict(Counter(str(d.get("answer")) for d in deliveries).most_common())
    lost["escalated to L4, never delivered to the vendor"] = undelivered(escalated, deliveries)
    contents: dict[str, Counter[str]] = defaultdict(Counter)
    for d in deliveries:
        contents[str(d.get("webhook_id"))][str(d.get("sha256"))] += 1
    for webhook_id, bodies in contents.items():
        if len(bodies) > 1:
            dup["deliveries of one webhook id with different content"].append(
                f"{webhook_id} ({len(bodies)} bodies)"
            )
        verdict.vendor_redelivered_same_content += sum(n - 1 for n in bodies.values())
    verdict.notes += [
        f"vendor: a delivery whose signature did not verify: {d.get('webhook_id')}"
        for d in deliveries
        if not d.get("signature_valid")
    ][:EXAMPLES]


async def scan_topics(bootstrap: str, verdict: Verdict, dup: dict[str, list[str]]) -> dict[str, float]:
    """Every record of every tierline topic and DLQ, from the start; when each incident was first assigned."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen_ids: Counter[str] = Counter()
    steps: dict[tuple[str, ...], set[str]] = defaultdict(set)
    sla_ids: dict[str, set[str]] = defaultdict(set)
    dlq: dict[str, Counter[str]] = defaultdict(Counter)
    first_assigned: dict[str, float] = {}
    try:
        parts = await _partitions(bootstrap)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        deadline = time.monotonic() + 120

        async def behind() -> bool:
            return any([await consumer.position(p) < end[p] for p in parts])

        while time.monotonic() < deadline and await behind():
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for rec in records:
                    headers = {k: v.decode(errors="replace") for k, v in rec.headers or ()}
                    if tp.topic.endswith(".dlq"):
                        reason = headers.get("tierline_dlq_error", "?").splitlines()[0][:160]
                        dlq[tp.topic][reason] += 1
                        continue
                    _record(rec, headers, seen_ids, steps, first_assigned)
                    if headers.get("ce_type") in (WARNING, BREACHED):
                        sla_ids[headers["ce_type"]].add(headers.get("ce_id", ""))
        if await behind():
            verdict.notes.append("the topic scan did not reach the end of every partition in 120 s")
    finally:
        await consumer.stop()
    verdict.redelivered_events = sum(n - 1 for n in seen_ids.values() if n > 1)
    verdict.sla_warnings, verdict.sla_breaches = len(sla_ids[WARNING]), len(sla_ids[BREACHED])
    verdict.dlq = {t: dict(c.most_common()) for t, c in dlq.items()}
    names_of = {
        CREATED: "incident.created for one incident",
        ASSIGNED: "incident.assigned for one incident and step",
        CLOCK_STARTED: "sla.clock_started for one incident, clock and tier",
        BREACHED: "sla.breached for one clock",
    }
    for step, event_ids in steps.items():
        if len(event_ids) > 1:
            dup[names_of[step[0]]].append(f"{' '.join(step[1:])} ({len(event_ids)} event ids)")
    return first_assigned


async def _partitions(bootstrap: str) -> list[TopicPartition]:
    """Every partition of every tierline topic (and DLQ) on the broker."""
    admin = new_admin(bootstrap, "chaos-verdict")
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["topic"].startswith("tierline.")
        for p in t["partitions"]
    )


def _record(
    rec: Any,
    headers: dict[str, str],
    seen_ids: Counter[str],
    steps: dict[tuple[str, ...], set[str]],
    first_assigned: dict[str, float],
) -> None:
    ce_type, ce_id = headers.get("ce_type", ""), headers.get("ce_id", "")
    seen_ids[ce_id] += 1
    if ce_type not in (CREATED, ASSIGNED, CLOCK_STARTED, BREACHED):
        return
    try:
        data = json.loads(rec.value)
        incident = str(data["incident_id"])
    except (ValueError, KeyError, TypeError):
        return
    if ce_type == CREATED:
        step: tuple[str, ...] = (ce_type, incident)
    elif ce_type == ASSIGNED:
        step = (
            ce_type,
            incident,
            data.get("tier"),
            data.get("reason"),
            data.get("queue"),
            str(data.get("assignee")),
        )
        at = rec.timestamp / 1000
        first_assigned[incident] = min(at, first_assigned.get(incident, at))
    else:
        step = (ce_type, incident, data.get("clock"), str(data.get("tier")))
    steps[step].add(ce_id)


def latencies(
    load: Load, first_assigned: dict[str, float], window: tuple[float, float], verdict: Verdict
) -> None:
    during: list[float] = []
    after: list[float] = []
    for post in load.posts.values():
        if post.incident_id and post.incident_id in first_assigned:
            wait = max(0.0, first_assigned[post.incident_id] - post.sent_at)
            (during if window[0] <= post.sent_at <= window[1] else after).append(wait)
    every = during + after
    if every:
        verdict.latency_worst_s = max(every)
        verdict.latency_p99_s = (
            statistics.quantiles(every, n=100, method="inclusive")[98] if len(every) > 1 else every[0]
        )
    verdict.latency_worst_during_faults_s = max(during, default=None)
    verdict.latency_worst_after_faults_s = max(after, default=None)


def readiness(urls: dict[str, str]) -> dict[str, int | str]:
    import httpx

    out: dict[str, int | str] = {}
    for name, url in urls.items():
        with contextlib.suppress(httpx.HTTPError):
            out[name] = httpx.get(f"{url}/readyz", timeout=3).status_code
            continue
        out[name] = "no answer"
    return out
