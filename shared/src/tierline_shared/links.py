"""Links that act: signed, expiring tokens the notifier puts in messages and intake honours once.

An acknowledge link (for the assignee) or a CSAT link (for the reporter) carries a ``LinkClaim``
signed with itsdangerous: what it does, to which incident, for whom, a nonce that makes it
single-use (intake records it with the action, in one transaction) and when it expires. The
secret is shared by the notifier (which signs) and intake (which verifies); several secrets,
newest first, let it be rotated without breaking links already sent.
"""

from __future__ import annotations

import secrets as _secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, ValidationError

Purpose = Literal["acknowledge", "csat"]
SALT = "tierline.link.v1"
# Defaults of how long a link may be used (the notifier's settings may change them).
ACKNOWLEDGE_TTL = timedelta(hours=24)
CSAT_TTL = timedelta(days=14)


class LinkClaim(BaseModel):
    """What a link may do, once, until it expires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    purpose: Purpose
    incident_id: uuid.UUID
    person: str | None = None  # who acts: the agent acknowledging, or the reporter scoring
    nonce: str
    expires_at: datetime

    @classmethod
    def new(
        cls, purpose: Purpose, incident_id: uuid.UUID, person: str | None, *, now: datetime, ttl: timedelta
    ) -> LinkClaim:
        return cls(
            purpose=purpose,
            incident_id=incident_id,
            person=person,
            nonce=_secrets.token_urlsafe(16),
            expires_at=now + ttl,
        )


class InvalidLink(ValueError):
    """The token was not signed by us, was altered, or is not a link's claim."""


class ExpiredLink(ValueError):
    """The token is genuine but its time is up."""

    def __init__(self, claim: LinkClaim) -> None:
        super().__init__(f"the link expired at {claim.expires_at.isoformat()}")
        self.claim = claim


def parse_secrets(value: str | None) -> list[str]:
    """``new,old`` → the secrets, newest first; empty when none is configured."""
    return [s.strip() for s in (value or "").split(",") if s.strip()]


class LinkSigner:
    """Signs with the newest secret; verifies with any of them."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("a link signer needs at least one secret")
        # itsdangerous signs with the last key and accepts every one
        self._serializer = URLSafeSerializer(list(reversed(secrets)), salt=SALT)

    def sign(self, claim: LinkClaim) -> str:
        token: str = self._serializer.dumps(claim.model_dump(mode="json"))
        return token

    def verify(self, token: str, *, now: datetime) -> LinkClaim:
        """The claim, when the token is ours, unaltered and unexpired (InvalidLink, ExpiredLink)."""
        try:
            claim = LinkClaim.model_validate(self._serializer.loads(token))
        except (BadSignature, ValidationError, UnicodeError) as exc:
            raise InvalidLink("the link is not one of ours, or it was altered") from exc
        if now >= claim.expires_at:
            raise ExpiredLink(claim)
        return claim
