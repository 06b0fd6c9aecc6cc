"""Standard Webhooks v1 signing and verification, through the reference library."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook, WebhookVerificationError

from tierline_shared.errors import Unauthorized


class BadSignature(Unauthorized):
    type_slug = "bad-signature"
    title = "The webhook signature could not be verified"


def signed_headers(secret: str, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, timestamp, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """Check signature and timestamp (5-minute tolerance); raise BadSignature on any doubt."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        raise BadSignature(str(exc)) from exc
    except (ValueError, UnicodeDecodeError) as exc:  # malformed headers or body bytes
        raise BadSignature("malformed webhook headers") from exc
