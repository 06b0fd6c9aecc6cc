"""The vendor gateway's settings and vendor list (deploy/config/vendors.yaml)."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator
from standardwebhooks import Webhook

from tierline_shared.config_files import Duration, load_yaml
from tierline_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    port: int = 8004
    vendors_file: str = "vendors.yaml"
    delivery_poll_seconds: float = 0.25
    delivery_batch_size: int = 50
    intake_url: str = Field(
        default="http://127.0.0.1:8001", description="Intake's public URL, for incident links in handoffs"
    )


class VendorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    webhook_url: HttpUrl
    webhook_secret: str | None = None
    webhook_secret_env: str | None = None
    callback_secret: str | None = None
    callback_secret_env: str | None = None
    rotating_webhook_secrets: list[str] = Field(
        default_factory=list,
        description="Further signing secrets while rotating: each delivery carries one signature per secret",
    )
    rotating_callback_secrets: list[str] = Field(
        default_factory=list, description="Further secrets the vendor may sign callbacks with while rotating"
    )

    def _secret(self, literal: str | None, env: str | None, what: str) -> str:
        value = (os.environ.get(env) if env else None) or literal
        if not value:
            raise ValueError(f"vendor {self.name}: no {what} (set {env or 'it in the config'})")
        try:
            Webhook(value)
        except Exception as exc:
            raise ValueError(f"vendor {self.name}: the {what} is not a whsec_ base64 secret") from exc
        return value

    def signing_secrets(self) -> list[str]:
        primary = self._secret(self.webhook_secret, self.webhook_secret_env, "webhook secret")
        return [
            primary,
            *(self._secret(s, None, "rotating webhook secret") for s in self.rotating_webhook_secrets),
        ]

    def verifying_secrets(self) -> list[str]:
        primary = self._secret(self.callback_secret, self.callback_secret_env, "callback secret")
        return [
            primary,
            *(self._secret(s, None, "rotating callback secret") for s in self.rotating_callback_secrets),
        ]


class DeliveryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=8, ge=1, le=50)
    initial_backoff: Duration = timedelta(seconds=2)
    max_backoff: Duration = timedelta(minutes=10)
    timeout: Duration = timedelta(seconds=10)
    schedule: list[Duration] | None = Field(
        default=None,
        description="Delay before each attempt (the first is usually 0s); replaces the exponential "
        "backoff and sets the number of attempts. Each delay gets up to 10 % jitter.",
    )
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs a webhook may reach although private or loopback, and over http",
    )

    @model_validator(mode="after")
    def _schedule(self) -> DeliveryPolicy:
        if self.schedule is not None:
            if not self.schedule or len(self.schedule) > 50:
                raise ValueError("schedule needs 1 to 50 delays")
            if any(d < timedelta(0) for d in self.schedule):
                raise ValueError("schedule delays must not be negative")
        return self

    @property
    def attempts(self) -> int:
        return len(self.schedule) if self.schedule is not None else self.max_attempts


class VendorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendors: list[VendorConfig] = Field(default_factory=list)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)

    @model_validator(mode="after")
    def _unique(self) -> VendorsConfig:
        names = [v.name for v in self.vendors]
        if len(names) != len(set(names)):
            raise ValueError("vendor names must be unique")
        for vendor in self.vendors:
            vendor.signing_secrets()
            vendor.verifying_secrets()
        return self

    def vendor(self, name: str) -> VendorConfig | None:
        return next((v for v in self.vendors if v.name == name), None)


def load_vendors(settings: Settings) -> VendorsConfig:
    return load_yaml(settings.config_dir / settings.vendors_file, VendorsConfig)
