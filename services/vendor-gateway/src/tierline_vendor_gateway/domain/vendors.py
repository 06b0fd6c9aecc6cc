"""What the gateway knows about a vendor: its endpoint, secrets, what it serves and its contract."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from tierline_shared.config_files import Duration

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
MAX_TIMEOUT = timedelta(seconds=60)
MAX_URL_LENGTH = 2000
MAX_DELAY = timedelta(days=7)  # between two attempts
MAX_TARGET = timedelta(days=365)  # a contract's response or resolution target


def check_secret(value: str) -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24 to 64 random bytes."""
    if not value.startswith("whsec_"):
        raise ValueError("a secret starts with whsec_")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("after whsec_ a secret is base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"a secret holds 24 to 64 bytes, this one {len(key)}")
    return value


def fingerprint(secret: str) -> str:
    """Names a secret in API answers and logs without revealing it."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def _distinct(values: list[str]) -> list[str]:
    if len(values) != len(set(values)):
        raise ValueError("the same secret is listed twice")
    return values


Secret = Annotated[str, AfterValidator(check_secret)]
Secrets = Annotated[list[Secret], Field(min_length=1, max_length=5), AfterValidator(_distinct)]


def check_url(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > MAX_URL_LENGTH:  # as normalized (a "/" may be added): what is stored and read back
        raise ValueError(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    if url.username or url.password:
        raise ValueError("credentials do not belong in the URL; the signature authenticates us")
    return url


def check_target(target: timedelta | None) -> timedelta | None:
    if target is not None and not timedelta(0) < target <= MAX_TARGET:
        raise ValueError(f"a contract target is above 0 and at most {MAX_TARGET.days} days")
    return target


Target = Annotated[Duration | None, AfterValidator(check_target)]


class Contract(BaseModel):
    """The vendor's SLA: how soon it acknowledges a case, and resolves it."""

    model_config = ConfigDict(extra="forbid")

    response: Target = None
    resolution: Target = None

    def in_seconds(self) -> dict[str, float | None]:
        """As events and handoffs carry it: response_seconds, resolution_seconds."""
        return {
            "response_seconds": self.response.total_seconds() if self.response else None,
            "resolution_seconds": self.resolution.total_seconds() if self.resolution else None,
        }


def check_schedule(schedule: list[timedelta] | None) -> list[timedelta] | None:
    if schedule is not None:
        if not 1 <= len(schedule) <= 50:
            raise ValueError("a schedule has 1 to 50 delays")
        if any(not timedelta(0) <= d <= MAX_DELAY for d in schedule):
            raise ValueError(f"schedule delays are between 0 and {MAX_DELAY.days} days")
    return schedule


def check_timeout(timeout: timedelta | None) -> timedelta | None:
    if timeout is not None and not timedelta(0) < timeout <= MAX_TIMEOUT:
        raise ValueError(f"a timeout is above 0 and at most {int(MAX_TIMEOUT.total_seconds())}s")
    return timeout


Schedule = Annotated[list[Duration] | None, AfterValidator(check_schedule)]
Timeout = Annotated[Duration | None, AfterValidator(check_timeout)]


class VendorSpec(BaseModel):
    """Everything about a vendor but its name; the registry stores it as one document."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: Annotated[HttpUrl, AfterValidator(check_url)] = Field(description="Where cases are POSTed")
    secrets: Secrets = Field(
        repr=False,
        description="Signing secrets (whsec_...); every delivery carries one signature per secret, "
        "so a new secret can be added before the old one is dropped",
    )
    callback_secrets: Secrets = Field(
        repr=False, description="Secrets the vendor may sign its callbacks with"
    )
    products: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Products the vendor supports"
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Incident categories the vendor takes"
    )
    contract: Contract | None = Field(
        default=None, description="The vendor's SLA, used when the escalation names none"
    )
    timeout: Timeout = Field(default=None, description="Per-request timeout; default: delivery.timeout")
    schedule: Schedule = Field(
        default=None,
        description="Delay before each attempt (e.g. 0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h), each with up "
        "to 10 % jitter; default: the gateway's delivery policy",
    )


class Vendor(VendorSpec):
    name: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
