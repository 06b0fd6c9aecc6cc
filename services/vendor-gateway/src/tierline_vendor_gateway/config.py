"""The vendor gateway's settings, and the vendors and delivery policy of deploy/config/vendors.yaml."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    HttpUrl,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from tierline_shared.config_files import Duration, FromEnv, load_yaml
from tierline_shared.settings import ServiceSettings
from tierline_vendor_gateway.domain.vendors import (
    MAX_DELAY,
    MAX_TIMEOUT,
    NAME_PATTERN,
    Contract,
    Vendor,
    VendorSpec,
    check_schedule,
)


class Settings(ServiceSettings):
    port: int = 8004
    vendors_file: str = Field(
        default="vendors.yaml", description="Vendors and delivery policy, in the config folder."
    )
    delivery_poll_seconds: float = Field(
        default=0.25, description="How often webhook deliveries falling due are looked for."
    )
    delivery_batch_size: int = Field(default=50, description="Webhook deliveries claimed per batch.")
    intake_url: str = Field(
        default="http://127.0.0.1:8001", description="Intake's public URL, for incident links in handoffs"
    )


EnvSecret = FromEnv  # the name secrets were declared with first

SecretSource = str | FromEnv


def _source_kind(value: Any) -> str:
    return "env" if isinstance(value, dict | FromEnv) else "value"


# A URL written out, or {env: NAME, default: URL}; the discriminator keeps errors to the form used.
UrlSource = Annotated[
    Annotated[HttpUrl, Tag("value")] | Annotated[FromEnv, Tag("env")], Discriminator(_source_kind)
]


class VendorConfig(BaseModel):
    """A vendor as vendors.yaml declares it; secrets may come from the environment."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    webhook_url: UrlSource
    secrets: list[SecretSource] = Field(min_length=1, max_length=5)
    callback_secrets: list[SecretSource] = Field(min_length=1, max_length=5)
    products: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    contract: Contract | None = None
    timeout: Duration | None = None
    schedule: list[Duration] | None = None
    enabled: bool = Field(default=True, description="false disables the vendor at every start")

    def _resolve(self, sources: list[SecretSource], what: str) -> list[str]:
        values = []
        for source in sources:
            value = source if isinstance(source, str) else source.resolve()
            if not value:
                assert isinstance(source, FromEnv)
                raise ValueError(f"vendor {self.name}: no {what} (set {source.env})")
            values.append(value)
        return values

    def _webhook_url(self) -> str:
        if not isinstance(self.webhook_url, FromEnv):
            return str(self.webhook_url)
        url = self.webhook_url.resolve()
        if not url:
            raise ValueError(f"vendor {self.name}: no webhook_url (set {self.webhook_url.env})")
        return url

    def to_vendor(self) -> Vendor:
        """The registry's view, secrets resolved; ValueError naming the vendor when something is wrong."""
        data = self.model_dump(exclude={"enabled"})
        data["webhook_url"] = self._webhook_url()
        data["secrets"] = self._resolve(self.secrets, "webhook secret")
        data["callback_secrets"] = self._resolve(self.callback_secrets, "callback secret")
        try:
            return Vendor.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ValueError(f"vendor {self.name}: {problems}") from None


class DeliveryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=8, ge=1, le=50)
    initial_backoff: Duration = Field(default=timedelta(seconds=2), ge=timedelta(0), le=MAX_DELAY)
    max_backoff: Duration = Field(default=timedelta(minutes=10), ge=timedelta(0), le=MAX_DELAY)
    timeout: Duration = Field(default=timedelta(seconds=10), gt=timedelta(0), le=MAX_TIMEOUT)
    schedule: list[Duration] | None = Field(
        default=None,
        description="Delay before each attempt (the first is usually 0s); replaces the exponential "
        "backoff and sets the number of attempts. Each delay gets up to 10 % jitter.",
    )
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs a webhook may reach although private or loopback, and over http; "
        "an entry {env: NAME} adds the comma-separated hosts of that variable (none when it is unset)",
    )

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _allow_hosts_from_env(cls, entries: Any) -> Any:
        if not isinstance(entries, list):
            return entries  # the field's own validation says what is wrong
        hosts: list[Any] = []
        for entry in entries:
            if isinstance(entry, dict | FromEnv):
                value = FromEnv.model_validate(entry).resolve() or ""
                hosts.extend(host for host in re.split(r"[,\s]+", value) if host)
            else:
                hosts.append(entry)
        return hosts

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, schedule: list[timedelta] | None) -> list[timedelta] | None:
        return check_schedule(schedule)

    @property
    def attempts(self) -> int:
        return len(self.schedule) if self.schedule is not None else self.max_attempts

    def for_vendor(self, vendor: VendorSpec) -> DeliveryPolicy:
        """This policy with the vendor's own timeout and retry schedule, where it has them."""
        changes: dict[str, object] = {}
        if vendor.timeout is not None:
            changes["timeout"] = vendor.timeout
        if vendor.schedule is not None:
            changes["schedule"] = vendor.schedule
        return self.model_copy(update=changes) if changes else self


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
            vendor.to_vendor()
        return self


def load_vendors(settings: Settings) -> VendorsConfig:
    return load_yaml(settings.config_dir / settings.vendors_file, VendorsConfig)
