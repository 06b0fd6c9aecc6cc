"""A mail taken in → an incident, a note on the incident it answers, or a recorded refusal.

One transaction: the ``mail_messages`` row (its Message-ID makes a redelivery a duplicate),
the incident (the same create path as POST /v1/incidents) or the note (with a reopen first when
it answers a resolved incident within the reopen window), the attachments and a timeline line
commit together, or nothing does.

Who may add to an incident by mail: a reply (by the ``[TL-…]`` reference in its subject, or by
In-Reply-To/References naming a notification's Message-ID) becomes a note on the incident — and
reopens it when it was resolved within the reopen window — only when its From is the incident's
reporter, or an email address a notification about the incident was mailed to (the notifier's
NotificationSent names the recipient; a person's name or a queue authorises nobody: agents answer
through the console). From anyone else it becomes a new incident whose description starts
"Follow-up to TL-XXXXXXXX from <sender>:"; the old incident is left as it was. From can be forged,
so this keeps strangers out of other people's incidents, not a determined impostor out of a
reporter's: the usual helpdesk trade-off of taking replies by mail at all.

The per-sender rate: deliveries from one sender are serialised by a transaction-scoped advisory
lock before their recent mails are counted, so parallel deliveries cannot all pass. A mail over
the rate is held: recorded with outcome ``held``, which is not final (its Message-ID is no
duplicate: the sending server's retry, or the next IMAP round, takes its row over) and does not
count towards the rate, so the mail gets through once its sender keeps to the rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from tierline_intake.adapters.mail_repository import MailRepository
from tierline_intake.config import Settings, mail_rate
from tierline_intake.domain.incident import Incident
from tierline_intake.domain.lifecycle import Status
from tierline_intake.domain.timeline import mail_received
from tierline_intake.mail.mailboxes import Mailboxes, normalise
from tierline_intake.mail.message import InboundMail, Rejected, parse
from tierline_intake.service_layer import incidents, lifecycle
from tierline_intake.service_layer.commands import CreateIncident
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import SOURCE, IntakeUnitOfWork
from tierline_shared.errors import Conflict, NotFound
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)

Kind = Literal["created", "noted", "ignored", "held", "rejected"]
OVER_LIMIT = "over the per-mail limit"
TITLE_MAX, TEXT_MAX, PERSON_MAX = 200, 20_000, 320  # as POST /v1/incidents and its notes take them


@dataclass(frozen=True)
class MailPolicy:
    """What the channel takes: the mailboxes, the per-sender rate and the stored attachment bytes."""

    mailboxes: Mailboxes
    rate_count: int = 20
    rate_window: timedelta = timedelta(minutes=10)
    attachment_max_bytes: int = 10 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings, mailboxes: Mailboxes) -> MailPolicy:
        count, seconds = mail_rate(settings.mail_rate)
        return cls(mailboxes, count, timedelta(seconds=seconds), settings.mail_attachment_max_bytes)


@dataclass(frozen=True)
class Outcome:
    outcome: Kind
    incident_id: uuid.UUID | None = None
    reason: str | None = None

    @property
    def reference(self) -> str | None:
        """ "TL-1A2B3C4D", as the notifier's mails quote the incident."""
        return None if self.incident_id is None else "TL-" + self.incident_id.hex[:8].upper()


async def ingest_message(
    rt: Runtime, raw: bytes, recipients: Sequence[str], *, mail_from: str | None = None
) -> Outcome:
    """:func:`ingest` in a transaction of its own: committed when this returns."""
    deps: IntakeDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        outcome = await ingest(
            deps.unit_of_work(session), deps, rt.state["mail"], raw, recipients, mail_from=mail_from
        )
    _log.info(
        "mail_ingested",
        outcome=outcome.outcome,
        reason=outcome.reason,
        incident_id=str(outcome.incident_id) if outcome.incident_id else None,
    )
    return outcome


async def record_rejected(
    rt: Runtime, message_id: str, *, sender: str, recipients: Sequence[str], subject: str, reason: str
) -> Outcome:
    """Record a mail refused unread (e.g. over the size limit over IMAP), in a transaction of its own."""
    deps: IntakeDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        fresh = await MailRepository(session).claim(
            message_id,
            received_at=deps.clock.now(),
            sender=sender,
            recipients=list(recipients),
            subject=subject,
            outcome="rejected",
            reason=reason,
        )
    return Outcome("rejected", reason=reason) if fresh else Outcome("ignored", reason="duplicate Message-ID")


async def ingest(
    uow: IntakeUnitOfWork,
    deps: IntakeDeps,
    policy: MailPolicy,
    raw: bytes,
    recipients: Sequence[str],
    *,
    mail_from: str | None = None,
) -> Outcome:
    """Take one mail in, in the caller's transaction (see the module's docstring)."""
    repo = MailRepository(uow.session)
    now = deps.clock.now()
    to = [_clean(normalise(r))[:PERSON_MAX] for r in recipients]
    try:
        # CPU-bound (up to ~0.3 s for 10 MiB): off the loop. The envelope sender is "" for SMTP's
        # MAIL FROM:<> (a bounce or auto-reply), None when unknown (IMAP)
        mail = await asyncio.to_thread(partial(parse, raw, envelope_sender=mail_from))
    except Rejected as exc:
        reason = _clean(exc.reason)
        await repo.claim(
            _raw_id(raw),
            received_at=now,
            sender=_clean(normalise(mail_from or ""))[:PERSON_MAX],
            recipients=to,
            subject="",
            outcome="rejected",
            reason=reason,
        )
        return Outcome("rejected", reason=reason)
    message_id = _clean(mail.message_id) or _raw_id(raw)
    sender = _clean(normalise(mail.from_address))[:PERSON_MAX]
    claimed = await repo.claim(
        message_id,
        received_at=now,
        sender=sender,
        recipients=to or [_clean(normalise(a)) for a in mail.to],
        subject=_clean(mail.subject),
        outcome="pending",
    )
    if not claimed:
        return Outcome("ignored", reason="duplicate Message-ID")
    outcome = await _decide(uow, deps, policy, repo, mail, message_id, sender, to, now)
    await repo.settle(
        message_id, outcome=outcome.outcome, reason=outcome.reason, incident_id=outcome.incident_id
    )
    return outcome


async def _decide(
    uow: IntakeUnitOfWork,
    deps: IntakeDeps,
    policy: MailPolicy,
    repo: MailRepository,
    mail: InboundMail,
    message_id: str,
    sender: str,
    to: Sequence[str],
    now: datetime,
) -> Outcome:
    if mail.auto is not None:
        return Outcome("ignored", reason=_clean(mail.auto))
    await repo.lock_sender(sender)
    if await repo.count_from(sender, since=now - policy.rate_window, besides=message_id) >= policy.rate_count:
        return Outcome(
            "held", reason=f"over {policy.rate_count} mails from the sender in {policy.rate_window}"
        )
    target = await _thread(repo, mail, sender)
    follow_up: str | None = None
    stranger = False
    incident = await _load(uow, target)
    if target is not None and incident is not None:
        if not (normalise(incident.reporter) == sender or await repo.mailed(target, sender)):
            stranger = True  # neither its reporter nor told about it by mail: a new incident
            follow_up = f"{_reference(target)} from {sender}:"
        elif incident.status == Status.RESOLVED:
            try:
                await lifecycle.reopen(uow, deps, target, reason=f"Reply by email from {sender}", by=sender)
            except Conflict:  # outside the reopen window, or a newer incident holds its dedup key
                follow_up = f"{_reference(target)} ({incident.status.value})"
        elif incident.status == Status.CLOSED:
            follow_up = f"{_reference(target)} ({incident.status.value})"
        if follow_up is None:
            await lifecycle.add_note(
                uow, deps, target, text=_clean(mail.text)[:TEXT_MAX] or "(empty mail)", author=sender
            )
            await _attach(uow, repo, policy, mail, message_id, target, sender, now, reply=True)
            return Outcome("noted", target)
    box = policy.mailboxes.first(to) or policy.mailboxes.first(mail.to)
    if box is None:
        return Outcome("rejected", reason="none of the recipients is a configured mailbox")
    _, mailbox = box
    description = _clean(mail.text)
    if follow_up is not None:
        description = f"Follow-up to {follow_up}" + ("" if stranger else ".") + f"\n\n{description}"
    cmd = CreateIncident(
        title=_clean(" ".join(mail.subject.split()))[:TITLE_MAX] or "(no subject)",
        description=description[:TEXT_MAX],
        service=mailbox.service,
        category=mailbox.category,
        channel="email",
        reporter=sender,
        impact=mailbox.impact,
        urgency=mailbox.urgency,
        type=mailbox.type,
    )
    incident, _ = await incidents.create_incident(uow, deps, cmd)
    await _attach(
        uow,
        repo,
        policy,
        mail,
        message_id,
        incident.id,
        sender,
        now,
        reply=False,
        follow_up_to=target if stranger else None,
    )
    return Outcome("created", incident.id)


async def _load(uow: IntakeUnitOfWork, incident_id: uuid.UUID | None) -> Incident | None:
    if incident_id is None:
        return None
    try:
        return await uow.incidents.load(incident_id, lock=True)
    except NotFound:  # a notification of an incident this intake does not hold
        return None


async def _thread(repo: MailRepository, mail: InboundMail, sender: str) -> uuid.UUID | None:
    """The incident the mail answers: a notification it replies to, else its subject's reference
    (of several incidents with those 8 hex digits, the newest the sender reported, else the newest)."""
    found = await repo.thread_of(mail.notification_ids())
    if found is not None or mail.reference is None:
        return found
    prefix = mail.reference.removeprefix("TL-").lower()
    if len(prefix) != 8 or any(c not in "0123456789abcdef" for c in prefix):
        return None
    candidates = await repo.referenced(prefix)
    theirs = [c for c in candidates if normalise(c.reporter) == sender]
    picked = theirs or candidates
    return picked[0].id if picked else None


async def _attach(
    uow: IntakeUnitOfWork,
    repo: MailRepository,
    policy: MailPolicy,
    mail: InboundMail,
    message_id: str,
    incident_id: uuid.UUID,
    sender: str,
    now: datetime,
    *,
    reply: bool,
    follow_up_to: uuid.UUID | None = None,
) -> None:
    """The mail's attachments on the incident (content while the per-mail budget lasts) and its line."""
    budget = policy.attachment_max_bytes
    listed: list[dict[str, Any]] = []
    for attachment in mail.attachments:
        refused = _clean(attachment.refused) if attachment.refused is not None else None
        stored = refused is None and len(attachment.data) <= budget
        if stored:
            budget -= len(attachment.data)
        elif refused is None:
            refused = OVER_LIMIT
        filename = _clean(attachment.filename)[:255] or "attachment"
        repo.add_attachment(
            id=uuid.uuid4(),
            incident_id=incident_id,
            message_id=message_id,
            filename=filename,
            content_type=_clean(attachment.content_type)[:255] or "application/octet-stream",
            size=attachment.size,
            sha256=attachment.sha256 or hashlib.sha256(attachment.data).hexdigest(),
            stored=stored,
            data=attachment.data if stored else None,
            refused=refused,
            created_at=now,
        )
        listed.append({"filename": filename, "size": attachment.size, "stored": stored, "refused": refused})
    uow.timeline.record(
        incident_id,
        at=now,
        kind="email",
        summary=mail_received(
            sender,
            len(listed),
            reply=reply,
            follow_up_to=None if follow_up_to is None else _reference(follow_up_to),
        ),
        source=SOURCE,
        event_id=None,
        data={"message_id": message_id, "from": sender, "attachments": listed}
        | ({} if follow_up_to is None else {"follow_up_to": str(follow_up_to)}),
    )


def _reference(incident_id: uuid.UUID) -> str:
    return "TL-" + incident_id.hex[:8].upper()


def _raw_id(raw: bytes) -> str:
    """The id of a mail without a usable Message-ID: its content's, so a redelivery is a duplicate."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _clean(text: str) -> str:
    """``text`` as PostgreSQL can store it: no NUL, no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
