"""Standard Webhooks secrets and signed vendor callbacks, for vendors testing their side."""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import shlex
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the gateway takes 24 to 64 random bytes


class BadSecret(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(secret: str) -> str:
    """The secret as the gateway accepts it (``whsec_`` + base64 of 24-64 bytes), else BadSecret."""
    if not secret.startswith(SECRET_PREFIX):
        raise BadSecret("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret("after whsec_ a signing secret is base64") from None
    if not 24 <= len(key) <= 64:
        raise BadSecret(f"a signing secret holds 24 to 64 bytes, this one {len(key)}")
    return secret


def callback_body(
    case_id: str,
    action: str,
    *,
    reference: str | None = None,
    status: str | None = None,
    note: str | None = None,
    resolution: str | None = None,
) -> bytes:
    fields = {"reference": reference, "status": status, "note": note, "resolution": resolution}
    payload: dict[str, Any] = {"case_id": case_id, "action": action}
    payload.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(payload, ensure_ascii=False).encode()


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def signed_headers(secret: str, body: bytes, *, msg_id: str, timestamp: datetime) -> dict[str, str]:
    """The Standard Webhooks v1 headers of ``body``: id, Unix timestamp, HMAC-SHA256 signature."""
    timestamp = timestamp.astimezone(UTC)  # the library reads the clock face as UTC
    signature = Webhook(check_secret(secret)).sign(msg_id, timestamp, body.decode("utf-8"))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def as_http(url: str, headers: dict[str, str], body: bytes) -> str:
    lines = [f"POST {url}", *(f"{k}: {v}" for k, v in headers.items()), "", body.decode("utf-8")]
    return "\n".join(lines)


def as_curl(url: str, headers: dict[str, str], body: bytes) -> str:
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(url)]
    for name, value in headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(body.decode("utf-8"))]
    return " ".join(parts)
