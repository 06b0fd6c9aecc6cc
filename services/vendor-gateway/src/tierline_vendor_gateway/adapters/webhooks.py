"""Standard Webhooks v1 signing and verification, through the reference library."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook, WebhookVerificationError

from tierline_shared.errors import Unauthorized

MAX_ID_LENGTH = 256  # ids are remembered to refuse replays; an unbounded one could not be stored


class BadSignature(Unauthorized):
    type_slug = "bad-signature"
    title = "The webhook signature could not be verified"


def signed_headers(
    secrets: str | list[str], message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """Standard Webhooks headers; several secrets (rotation) give one space-separated signature each."""
    keys = [secrets] if isinstance(secrets, str) else secrets
    text = body.decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(Webhook(key).sign(message_id, timestamp, text) for key in keys),
        "content-type": "application/json",
    }


def verify(secrets: str | list[str], body: bytes, headers: dict[str, str]) -> None:
    """Check signature and timestamp (5-minute tolerance) against any of ``secrets``, else BadSignature."""
    keys = [secrets] if isinstance(secrets, str) else secrets
    if len(headers.get("webhook-id", "")) > MAX_ID_LENGTH:
        raise BadSignature(f"webhook-id is longer than {MAX_ID_LENGTH} characters")
    failure: Exception | None = None
    for key in keys:
        try:
            Webhook(key).verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            failure = exc
        except (ValueError, UnicodeDecodeError):  # malformed headers or body bytes
            raise BadSignature("malformed webhook headers") from None
    raise BadSignature(str(failure) if failure else "no secret to verify with")
