"""The short chaos scenario in `make test`: 200 incidents while one fault of each kind strikes.

SIGKILL of each service, of the Kafka broker (restarted on its data), PostgreSQL's immediate shutdown,
a broker stall, and a second router and SLA monitor carrying on while the first ones are SIGKILLed.
The notifier mails a real SMTP server throughout. Meanwhile 5 % of the incidents are escalated by hand
to L4, a vendor that fails a quarter of its deliveries (500 or a timeout), and P4's SLA targets are
seconds, so warnings and breaches fire. It starts its own PostgreSQL (fsync on) and Kafka, not the
session's: it kills them. About 3-4 minutes.
"""

from __future__ import annotations

import pytest

from tests.chaos import faults
from tests.chaos.run import parse_args, run

pytestmark = pytest.mark.e2e

CONVERGE_BOUND = 60.0  # seconds after the last fault (or the last POST) until every incident is visible


def test_no_incident_is_lost_or_doubled_under_faults(tmp_path) -> None:
    opts = parse_args(["--short", "--seed", "16", "--json", str(tmp_path / "verdict.json")])
    verdict = run(opts)
    print("\n".join(verdict.lines()))

    assert verdict.judged, verdict.notes
    assert sorted(str(f["kind"]) for f in verdict.faults) == sorted(faults.KINDS)
    assert all(f["fault_to_recovered_s"] is not None for f in verdict.faults)
    assert verdict.accepted >= 0.9 * verdict.incidents, verdict.refused_reasons
    assert verdict.retried > 0, "no POST was cut by a fault: the schedule missed the load"
    assert verdict.lost == {}
    assert verdict.duplicated == {}
    assert verdict.converged
    assert verdict.converge_seconds is not None and verdict.converge_seconds <= CONVERGE_BOUND
    assert verdict.unexpected_exits == []
    assert verdict.escalated_to_l4 > 0 and verdict.escalations_given_up == {}
    assert verdict.vendor_deliveries >= verdict.escalated_to_l4
    assert verdict.sla_warnings > 0 and verdict.sla_breaches > 0, "the short SLA targets never fired"
    assert verdict.notifications.get("sent", 0) > 0 and verdict.mails_received > 0, (
        "the notifier mailed nobody"
    )
