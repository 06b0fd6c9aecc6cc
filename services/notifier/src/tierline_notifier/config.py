"""The notifier's settings, and the people, teams and delivery policy of deploy/config/notifications.yaml."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tierline_notifier.domain.directory import Contact, ContactType, Name, Person, Rule, Team
from tierline_shared.config_files import Duration, FromEnv, load_yaml
from tierline_shared.links import ACKNOWLEDGE_TTL, CSAT_TTL
from tierline_shared.settings import ServiceSettings

MAX_BACKOFF = timedelta(days=1)
DEFAULT_SCHEDULE_SECONDS = (0, 10, 60, 300, 900, 3600)


class Settings(ServiceSettings):
    port: int = 8005
    notifications_file: str = Field(
        default="notifications.yaml", description="People, teams and delivery policy, in the config folder."
    )
    templates_dir: str = Field(default="templates", description="Message templates, in the config folder.")
    intake_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Intake's public URL: acknowledge and CSAT links go there",
    )
    smtp_host: str | None = Field(default=None, description="The mail server (unset: email is not sent).")
    smtp_port: int = Field(default=25, description="The mail server's port (587 submission, 465 TLS).")
    smtp_username: str | None = Field(default=None, description="Log in to the mail server as this user.")
    smtp_password: SecretStr | None = Field(default=None, description="… with this password.")
    smtp_starttls: bool | None = Field(
        default=None, description="true: require STARTTLS; false: never; unset: when the server offers it."
    )

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        """``auto`` or empty: upgrade when the server offers it (compose passes these)."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "auto") else value

    @field_validator("smtp_username", "smtp_password", "smtp_host", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    smtp_tls: bool = Field(default=False, description="Implicit TLS from the first byte (port 465).")
    smtp_from: str = Field(default="Tierline <tierline@localhost>", description="The From of every email.")
    smtp_timeout_seconds: float = Field(default=10.0, description="How long one mail may take to hand over.")
    ack_link_ttl: timedelta = Field(
        default=ACKNOWLEDGE_TTL, description="How long an acknowledge link works."
    )
    csat_link_ttl: timedelta = Field(default=CSAT_TTL, description="How long a CSAT link works.")
    notify_allow_hosts: str = Field(
        default="",
        description="Hosts, IPs or CIDRs (comma-separated) chat webhooks may reach although loopback or "
        "private, and over http (added to delivery.allow_hosts of notifications.yaml).",
    )
    send_poll_seconds: float = Field(
        default=0.25, description="How often messages falling due are looked for."
    )
    send_batch_size: int = Field(default=50, description="Messages sent at once, at most.")
    send_lease_seconds: float = Field(
        default=120.0,
        description="A message whose sender died is sent again after this (longer than any send takes).",
    )


class ContactConfig(BaseModel):
    """A contact as the file declares it; a URL (which holds a token) may come from the environment."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: ContactType
    address: str | None = None
    url: str | FromEnv | None = None

    def to_contact(self, owner: str) -> Contact:
        url = self.url.resolve() if isinstance(self.url, FromEnv) else self.url
        if isinstance(self.url, FromEnv) and not url:
            raise ValueError(f"{owner}: contact {self.name} has no url (set {self.url.env})")
        return Contact(name=self.name, type=self.type, address=self.address, url=url)


def _problems(owner: str, exc: ValidationError) -> ValueError:
    details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
    return ValueError(f"{owner}: {details}")


class PersonConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    contacts: list[ContactConfig] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    def to_person(self) -> Person:
        owner = f"person {self.name}"
        contacts = [c.to_contact(owner) for c in self.contacts]
        try:
            return Person(name=self.name, contacts=contacts, rules=self.rules)
        except ValidationError as exc:
            raise _problems(owner, exc) from None


class TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The router's queue name")
    lead: Name | None = None
    channels: list[ContactConfig] = Field(default_factory=list)

    def to_team(self) -> Team:
        owner = f"team {self.name}"
        channels = [c.to_contact(owner) for c in self.channels]
        try:
            return Team(name=self.name, lead=self.lead, channels=channels)
        except ValidationError as exc:
            raise _problems(owner, exc) from None


class DeliveryPolicy(BaseModel):
    """How sending is retried, and which private hosts chat webhooks may reach."""

    model_config = ConfigDict(extra="forbid")

    schedule: list[Duration] = Field(
        default_factory=lambda: [timedelta(seconds=s) for s in DEFAULT_SCHEDULE_SECONDS],
        min_length=1,
        max_length=20,
        description="Delay before each attempt (the first is usually 0s): one attempt per entry, each "
        "delay with up to 10 % jitter; past the last a message is dead.",
    )
    allow_hosts: list[str] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, schedule: list[timedelta]) -> list[timedelta]:
        if any(d < timedelta(0) or d > MAX_BACKOFF for d in schedule):
            raise ValueError("every delay is between 0s and 1d")
        return schedule

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _hosts_from_env(cls, entries: Any) -> Any:
        if not isinstance(entries, list):
            return entries
        hosts: list[Any] = []
        for entry in entries:
            if isinstance(entry, dict | FromEnv):
                value = FromEnv.model_validate(entry).resolve() or ""
                hosts.extend(h for h in re.split(r"[,\s]+", value) if h)
            else:
                hosts.append(entry)
        return hosts


class NotificationsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[PersonConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)

    @model_validator(mode="after")
    def _consistent(self) -> NotificationsConfig:
        for what, names in (
            ("person", [p.name for p in self.people]),
            ("team", [t.name for t in self.teams]),
        ):
            if len(names) != len(set(names)):
                raise ValueError(f"{what} names must be unique")
        for person in self.people:
            person.to_person()
        for team in self.teams:
            team.to_team()
        return self

    def directory(self) -> tuple[list[Person], list[Team]]:
        return [p.to_person() for p in self.people], [t.to_team() for t in self.teams]


def load_notifications(settings: Settings) -> NotificationsConfig:
    return load_yaml(settings.config_dir / settings.notifications_file, NotificationsConfig)


def allow_hosts(settings: Settings, config: NotificationsConfig) -> list[str]:
    extra = [h for h in re.split(r"[,\s]+", settings.notify_allow_hosts) if h]
    return [*config.delivery.allow_hosts, *extra]
