"""Signed links: ours verify, altered or foreign ones do not, expired ones say so, and secrets rotate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.links import ExpiredLink, InvalidLink, LinkClaim, LinkSigner, parse_secrets

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CLAIM = LinkClaim.new("acknowledge", uuid.uuid4(), "alice", now=NOW, ttl=timedelta(hours=24))


def test_a_signed_claim_verifies_until_it_expires() -> None:
    signer = LinkSigner(["s1"])
    token = signer.sign(CLAIM)
    assert signer.verify(token, now=NOW + timedelta(hours=23)) == CLAIM
    with pytest.raises(ExpiredLink) as expired:
        signer.verify(token, now=NOW + timedelta(hours=24))
    assert expired.value.claim == CLAIM


def test_every_claim_has_its_own_nonce() -> None:
    again = LinkClaim.new("acknowledge", CLAIM.incident_id, "alice", now=NOW, ttl=timedelta(hours=1))
    assert again.nonce != CLAIM.nonce and len(CLAIM.nonce) >= 20


@pytest.mark.parametrize(
    "tamper",
    [
        # the signature, away from its last base64 character (whose spare bits may decode the same)
        lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
        lambda t: t.replace(t[5], "x" if t[5] != "x" else "y", 1),  # the payload
        lambda t: t[: len(t) // 2],  # cut short
        lambda t: "not-a-token",
    ],
    ids=["signature", "payload", "cut", "garbage"],
)
def test_an_altered_token_is_refused(tamper) -> None:
    token = LinkSigner(["s1"]).sign(CLAIM)
    with pytest.raises(InvalidLink):
        LinkSigner(["s1"]).verify(tamper(token), now=NOW)


def test_a_token_of_another_secret_is_refused_and_rotation_keeps_old_links_working() -> None:
    old = LinkSigner(["old"]).sign(CLAIM)
    with pytest.raises(InvalidLink):
        LinkSigner(["other"]).verify(old, now=NOW)
    rotated = LinkSigner(parse_secrets(" new , old "))
    assert rotated.verify(old, now=NOW) == CLAIM
    fresh = rotated.sign(CLAIM)
    assert LinkSigner(["new"]).verify(fresh, now=NOW) == CLAIM  # signs with the newest
    with pytest.raises(InvalidLink):
        LinkSigner(["old"]).verify(fresh, now=NOW)


def test_no_secret_no_signer() -> None:
    assert parse_secrets(None) == parse_secrets(" , ") == []
    with pytest.raises(ValueError, match="at least one secret"):
        LinkSigner([])
