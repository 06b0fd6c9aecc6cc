"""The whole system as separate processes, with second-scale SLA config, a test vendor and a mail server.

The notifier mails a real SMTP server started here (tests/support/mailbox.py, which keeps every message),
with the settings `make run` gives it (plain SMTP on loopback, a link secret shared with intake).
Intake takes mail for deploy/config/mailboxes.yaml's addresses as under `make run`, on a free port of
its own (``system.mail_port``; `make run`'s is 2525).
The console runs too (no database; a sealing secret made for the run): ``system.url("console")``.
``desk_system`` is the same system with tiers that hold an incident for minutes, for the browser
tests, where a board must still show the incident the test is looking at; there, incidents of the
service ``SLA_DRILL_SERVICE`` run on a policy of seconds (``SLA_DRILL_POLICY``: a response target
of 12 s, warnings at a quarter and at half of it), so a test sees a countdown go amber, then red.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.vendor_receiver import VendorReceiver
from tests.support.browser import browser  # noqa: F401 - the fixture, for the browser tests here
from tests.support.mailbox import SmtpSink
from tierline_launcher.paths import repo_root
from tierline_launcher.procs import free_port
from tierline_launcher.system import SERVICES, Services
from tierline_shared.events import topics
from tierline_shared.testing import ServerThread

TIER_BUDGET_SECONDS = 2
DESK_TIER_BUDGET_SECONDS = 600  # desk_system: nothing climbs a tier unless a test escalates it
ADMIN_KEY = "tl_e2e-" + secrets.token_urlsafe(24)
SLA_DRILL_SERVICE = "payroll"  # desk_system: this service's incidents get SLA_DRILL_POLICY
SLA_DRILL_POLICY = {
    "name": "drill",
    "services": [SLA_DRILL_SERVICE],
    "response": "12s",  # amber after 3 s, red after 6 s (the last warning), breached after 12 s
    "resolution": "1h",
    "warnings": [0.25, 0.5],
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class System:
    services: Services
    vendor: VendorReceiver
    vendor_name: str
    callback_secret: str
    topic_prefix: str
    mail: SmtpSink
    mail_port: int  # intake's SMTP receiver (TIERLINE_MAIL_LISTEN on 127.0.0.1)

    def topics(self) -> list[str]:
        return [self.topic_prefix + t for t in topics.ALL]

    def url(self, service: str) -> str:
        return self.services.url(service)


def _write_config(
    folder: Path,
    vendor_port: int,
    webhook_secret: str,
    callback_secret: str,
    *,
    tier_budget_seconds: int,
    sla_policies: list[dict[str, Any]],
) -> None:
    shutil.copy(repo_root() / "deploy" / "config" / "priority.yaml", folder / "priority.yaml")
    # the notifier's people, teams and templates as the repository has them
    shutil.copy(repo_root() / "deploy" / "config" / "notifications.yaml", folder / "notifications.yaml")
    # the addresses intake's SMTP receiver takes mail for
    shutil.copy(repo_root() / "deploy" / "config" / "mailboxes.yaml", folder / "mailboxes.yaml")
    shutil.copytree(repo_root() / "deploy" / "config" / "templates", folder / "templates")
    budget = f"{tier_budget_seconds}s"
    router = yaml.safe_load((repo_root() / "deploy" / "config" / "router.yaml").read_text())
    for policy in router[
        "escalation_policies"
    ]:  # every ladder rung runs out in seconds; nobody is paged again
        policy["ladder"] = [{"tier": t, "budget": budget} for t in ("L1", "L2", "L3")] + [{"tier": "L4"}]
        policy.pop("ack_timeout", None)
    (folder / "router.yaml").write_text(yaml.safe_dump(router))
    sla = {
        # the first policy that matches applies: the narrower ones given first, "all" for the rest
        "policies": [*sla_policies, {"name": "all", "response": "10m", "resolution": "1h"}],
        "default_tier_budgets": {"L1": budget, "L2": budget, "L3": budget},
    }
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla))
    vendors = {
        "vendors": [
            {
                "name": "acme-networks",
                "webhook_url": f"http://127.0.0.1:{vendor_port}/tierline/cases",
                "secrets": [webhook_secret],
                "callback_secrets": [callback_secret],
            }
        ],
        "delivery": {
            "max_attempts": 5,
            "initial_backoff": "200ms",
            "max_backoff": "2s",
            "timeout": "5s",
            "allow_hosts": ["127.0.0.1"],  # the receiver is local: the SSRF guard must let it through
        },
    }
    (folder / "vendors.yaml").write_text(yaml.safe_dump(vendors))


@contextlib.contextmanager
def running_system(
    infra,
    extra_env: dict[str, str] | None = None,
    *,
    tier_budget_seconds: int = TIER_BUDGET_SECONDS,
    sla_policies: list[dict[str, Any]] | None = None,
) -> Iterator[System]:
    """The services and the console as processes on their own databases and topics; ``extra_env``
    reaches each; every escalation ladder rung (and SLA tier budget) lasts ``tier_budget_seconds``;
    ``sla_policies`` (sla.yaml's shape) come before the catch-all policy of 10 min / 1 h."""
    root = infra.root / f"e2e-{uuid.uuid4().hex[:8]}"
    config = root / "config"
    config.mkdir(parents=True)
    vendor_port = free_port()
    webhook_secret, callback_secret = new_secret(), new_secret()
    _write_config(
        config,
        vendor_port,
        webhook_secret,
        callback_secret,
        tier_budget_seconds=tier_budget_seconds,
        sla_policies=list(sla_policies or []),
    )
    receiver = VendorReceiver(secret=webhook_secret)
    # Own topic namespace: other tests' events on the shared broker are not this system's.
    prefix = f"e2e-{uuid.uuid4().hex[:8]}."
    mail = SmtpSink(keep=True)
    mail_port = free_port()
    service_env = mail.settings()
    service_env["intake"] = {
        **service_env.get("intake", {}),
        "TIERLINE_MAIL_LISTEN": f"127.0.0.1:{mail_port}",
    }
    services = Services(
        infra,
        ports={s.name: free_port() for s in SERVICES},
        log_dir=root / "logs",
        config_dir=config,
        database_prefix=f"e2e_{uuid.uuid4().hex[:6]}_",
        extra_env={
            "TIERLINE_TIMER_POLL_SECONDS": "0.1",
            "TIERLINE_DELIVERY_POLL_SECONDS": "0.1",
            "TIERLINE_KAFKA_TOPIC_PREFIX": prefix,
            "TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY,
            **(extra_env or {}),
        },
        service_env=service_env,
    )
    with ServerThread(receiver.app(), vendor_port), mail:
        services.start()
        try:
            yield System(services, receiver, "acme-networks", callback_secret, prefix, mail, mail_port)
        finally:
            services.stop()
            if os.environ.get("TIERLINE_E2E_SHOW_LOGS"):
                for log in sorted((root / "logs").glob("*.log")):
                    print(f"--- {log.name}\n{log.read_text()[-5000:]}")


@pytest.fixture(scope="module")
def system(infra) -> Iterator[System]:
    with running_system(infra) as running:
        yield running


@pytest.fixture(scope="module")
def desk_system(infra) -> Iterator[System]:
    with running_system(
        infra, tier_budget_seconds=DESK_TIER_BUDGET_SECONDS, sla_policies=[SLA_DRILL_POLICY]
    ) as running:
        yield running
