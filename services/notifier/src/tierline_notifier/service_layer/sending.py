"""Sending a claimed message: its words from the templates, its links signed, its channel called,
and the outcome recorded — sent, retried later on the schedule, or dead — and announced.

At most once on the record: a message is a row claimed by one sender at a time. At least once on
the wire: a crash after the mail server took a message but before the row says so sends it again
once the lease runs out; the email's Message-ID comes from the row, so mail clients fold the two.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from tierline_notifier import metrics
from tierline_notifier.adapters import channels
from tierline_notifier.adapters.repository import Claimed
from tierline_notifier.adapters.templates import Rendered, RenderError
from tierline_notifier.service_layer.notify import incident_facts
from tierline_notifier.service_layer.unit_of_work import NotifierDeps, NotifierUnitOfWork
from tierline_shared.events import NotificationFailed, NotificationSent
from tierline_shared.events.notifications import ContactType, Role
from tierline_shared.links import LinkClaim
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
# Messages that carry an acknowledge link, when they go to the one who holds the incident.
_ACKNOWLEDGE_KINDS = ("assigned", "renotified", "escalated", "sla_warning", "sla_breached")
JITTER = 0.1
MAX_ERROR = 500


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    error: str | None = None  # None: sent
    transient: bool = False


async def claim(
    uow: NotifierUnitOfWork, deps: NotifierDeps, *, limit: int, lease: timedelta
) -> list[Claimed]:
    """Lease what is due, each with the incident as the events tell it now: the creation may have come
    after the assignment that owed a message (two topics), and a delayed message says what holds now."""
    claimed = await uow.notifications.claim_due(deps.clock.now(), limit, lease)
    views = await uow.views.many(c.incident_id for c in claimed) if claimed else {}
    return [
        replace(c, facts={**c.facts, "incident": incident_facts(views[c.incident_id])})
        if c.incident_id in views
        else c
        for c in claimed
    ]


def _links(deps: NotifierDeps, message: Claimed, now: datetime) -> dict[str, Any]:
    incident_id = message.incident_id
    links: dict[str, Any] = {"acknowledge": None, "csat": None, "follow": None}
    if deps.signer is None:
        return links
    base = deps.intake_url.rstrip("/") + "/v1/links/"
    acts = message.facts.get("incident", {}).get("status") == "open"
    if message.role == "assignee" and message.kind in _ACKNOWLEDGE_KINDS and acts:
        claim = LinkClaim.new("acknowledge", incident_id, message.recipient, now=now, ttl=deps.ack_link_ttl)
        links["acknowledge"] = base + deps.signer.sign(claim)
    if message.kind == "reporter_resolved":
        claim = LinkClaim.new("csat", incident_id, message.recipient, now=now, ttl=deps.csat_link_ttl)
        token = deps.signer.sign(claim)
        links["csat"] = {score: f"{base}{token}?score={score}" for score in range(1, 6)}
    return links


def context(deps: NotifierDeps, message: Claimed, now: datetime) -> dict[str, Any]:
    """What the templates are given (adapters/templates.py documents it)."""
    incident = dict(message.facts.get("incident", {}))
    incident["url"] = f"{deps.intake_url.rstrip('/')}/v1/incidents/{message.incident_id}"
    return {
        "incident": incident,
        "recipient": {"name": message.recipient, "role": message.role},
        "event": dict(message.facts.get("event", {})),
        "links": _links(deps, message, now),
    }


async def send(deps: NotifierDeps, message: Claimed) -> Outcome:
    """Render and hand over one message; never raises (the outcome says what went wrong)."""
    started = time.perf_counter()
    try:
        rendered = deps.templates.render(
            message.kind,
            "email" if message.channel == "email" else "chat",
            context(deps, message, deps.clock.now()),
        )
        await _deliver(deps, message, rendered)
        return Outcome(message)
    except RenderError as exc:
        return Outcome(message, f"template: {exc}", transient=False)
    except channels.SendError as exc:
        return Outcome(message, str(exc), transient=exc.transient)
    except ValueError as exc:  # an address or URL that can never work
        return Outcome(message, str(exc), transient=False)
    finally:
        metrics.SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - started)


async def _deliver(deps: NotifierDeps, message: Claimed, rendered: Rendered) -> None:
    if message.channel != "email":
        url = channels.chat_url(message.channel, message.target)
        await channels.send_chat(
            url, title=rendered.subject, body=rendered.text, allow_hosts=deps.allow_hosts
        )
        return
    if deps.smtp is None:
        raise channels.SendError("email is not configured here (set TIERLINE_SMTP_HOST)", transient=False)
    email = channels.Email(
        to=channels.check_address(message.target),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=f"<{message.id}@tierline>",
        headers={"X-Tierline-Incident": str(message.incident_id), "X-Tierline-Kind": message.kind},
    )
    await channels.send_email(deps.smtp, email)


def _retry_at(deps: NotifierDeps, attempts: int, now: datetime) -> datetime | None:
    """When the next attempt is due after ``attempts`` made; None when the schedule is spent."""
    if attempts >= len(deps.schedule):
        return None
    delay = deps.schedule[attempts]
    return now + delay * (1 + random.uniform(0, JITTER))


async def record(uow: NotifierUnitOfWork, deps: NotifierDeps, outcomes: list[Outcome]) -> None:
    """Write each outcome and announce the sent and the dead."""
    now = deps.clock.now()
    for outcome in outcomes:
        message = outcome.claimed
        channel = cast(ContactType, message.channel)
        common: dict[str, Any] = {
            "incident_id": message.incident_id,
            "notification_id": message.id,
            "kind": message.kind,
            "recipient": message.recipient,
            "role": cast(Role, message.role),
            "channel": channel,
            "attempts": message.attempts,
        }
        if outcome.error is None:
            await uow.notifications.record(message.id, status="sent", sent_at=now, last_error=None)
            await uow.announce(NotificationSent(**common, sent_at=now))
            metrics.NOTIFICATIONS.labels(channel, "sent").inc()
            _log.info(
                "notification_sent", notification_id=str(message.id), kind=message.kind, channel=channel
            )
            continue
        error = outcome.error[:MAX_ERROR]
        retry_at = _retry_at(deps, message.attempts, now) if outcome.transient else None
        if retry_at is not None:
            await uow.notifications.record(message.id, next_attempt_at=retry_at, last_error=error)
            metrics.NOTIFICATIONS.labels(channel, "retried").inc()
            _log.info(
                "notification_retry", notification_id=str(message.id), error=error, at=retry_at.isoformat()
            )
            continue
        await uow.notifications.record(message.id, status="dead", last_error=error)
        await uow.announce(NotificationFailed(**common, error=error, failed_at=now))
        metrics.NOTIFICATIONS.labels(channel, "dead").inc()
        _log.warning("notification_dead", notification_id=str(message.id), kind=message.kind, error=error)
