"""Links that act: an acknowledge or CSAT link from a notification, honoured once.

The token is the credential (``tierline_shared.links``): :func:`check_token` verifies it,
:func:`read_link` says what the link would do without doing it (a ``GET``, which mail scanners
prefetch), and :func:`use_link` does it: it records the link's nonce and runs intake's own use
case (acknowledge, or record CSAT) in the caller's one transaction, so both happen or neither.
Refusals are domain errors: disabled (404), not ours (400), expired (410), used (409), no such
incident (404), and whatever the incident's rules say (409).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from tierline_intake.domain.incident import Incident
from tierline_intake.service_layer import lifecycle
from tierline_intake.service_layer.incidents import IntakeDeps, acknowledge_incident
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.errors import Conflict, DomainError, NotFound
from tierline_shared.links import ExpiredLink, InvalidLink, LinkClaim

# What a CSAT link's page offers before anything is chosen (any score of the range may be posted).
SCORES = (1, 2, 3, 4, 5)


class LinksDisabled(NotFound):
    type_slug = "links-disabled"
    title = "Links are not enabled here"


class LinkNotValid(DomainError):
    status = 400
    type_slug = "invalid-link"
    title = "This link is not valid"


class LinkExpired(DomainError):
    status = 410
    type_slug = "link-expired"
    title = "This link has expired"


class LinkUsed(Conflict):
    type_slug = "link-used"
    title = "This link was already used"


@dataclass(frozen=True)
class LinkView:
    """A link's claim and its incident (as it is now, or after the link acted)."""

    claim: LinkClaim
    incident: Incident


def check_token(deps: IntakeDeps, token: str) -> LinkClaim:
    """The claim ``token`` carries, if it is ours, unaltered and unexpired."""
    if deps.links is None:
        raise LinksDisabled(
            "Links are not enabled here: this intake has no link secret (TIERLINE_LINK_SECRET)."
        )
    try:
        return deps.links.verify(token, now=deps.clock.now())
    except ExpiredLink as exc:
        raise LinkExpired(
            f"This link expired at {exc.claim.expires_at.isoformat()}; nothing was changed.",
            expired_at=exc.claim.expires_at.isoformat(),
        ) from None
    except InvalidLink:
        raise LinkNotValid(
            "This link was not issued by Tierline, or it was altered or cut short; nothing was changed."
        ) from None


async def read_link(uow: IntakeUnitOfWork, deps: IntakeDeps, claim: LinkClaim) -> LinkView:
    """What the link would do, refused as using it would be; changes nothing."""
    await _unused(uow, claim)
    incident = await uow.incidents.load(claim.incident_id)
    # the incident's own rules, tried on a copy: the page says now what the button would answer
    _act(copy.deepcopy(incident), claim, score=SCORES[-1], comment=None, deps=deps)
    return LinkView(claim, incident)


async def use_link(
    uow: IntakeUnitOfWork,
    deps: IntakeDeps,
    claim: LinkClaim,
    *,
    score: int | None = None,
    comment: str | None = None,
) -> LinkView:
    """Do what the link says, once: its nonce is stored with the change, in the caller's transaction
    (a refused change rolls back the nonce too, so the link stays usable)."""
    used = await uow.used_links.use(
        claim.nonce, purpose=claim.purpose, incident_id=claim.incident_id, at=deps.clock.now()
    )
    if not used:
        await _unused(uow, claim)  # raises, saying when it was used
        raise LinkUsed("This link was already used; it works once.")  # used by a transaction not yet seen
    if claim.purpose == "acknowledge":
        incident = await acknowledge_incident(uow, deps, claim.incident_id, claim.person)
    else:
        if score is None:
            raise ValueError("a CSAT link needs a score")  # the edge checks it first
        incident = await lifecycle.record_csat(uow, deps, claim.incident_id, score=score, comment=comment)
    return LinkView(claim, incident)


async def _unused(uow: IntakeUnitOfWork, claim: LinkClaim) -> None:
    used_at = await uow.used_links.used_at(claim.nonce)
    if used_at is not None:
        raise LinkUsed(
            f"This link was already used at {used_at.isoformat()}; it works once. Nothing was changed.",
            used_at=used_at.isoformat(),
        )


def _act(incident: Incident, claim: LinkClaim, *, score: int, comment: str | None, deps: IntakeDeps) -> None:
    now = deps.clock.now()
    if claim.purpose == "acknowledge":
        incident.acknowledge(by=claim.person, now=now)
    else:
        incident.record_csat(score=score, comment=comment, now=now)
