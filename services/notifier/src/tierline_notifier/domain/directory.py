"""Who can be told, and how: people with their contacts and rules, and each queue's team.

A person's name is the router's agent name. A contact is an email address or a chat/webhook
URL (Apprise carries those); its URL holds a secret (the webhook's token), so it is written,
never shown back: answers show a fingerprint. A person's rules say which contacts hear which
kinds of message for which urgency, each after an optional delay ("chat at once, email after
5 minutes unacknowledged"). Without rules every contact hears everything at once.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_shared.config_files import Duration

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
ContactType = Literal["email", "slack", "mattermost", "teams", "webhook", "apprise"]
Urgency = Literal["high", "low"]  # P1/P2 are high, P3/P4 low
URGENCIES: tuple[Urgency, ...] = ("high", "low")
# What an agent may be told (reporters' messages follow the reporter, not rules).
AgentKind = Literal["assigned", "renotified", "escalated", "escalated_fyi", "sla_warning", "sla_breached"]
AGENT_KINDS: tuple[AgentKind, ...] = (
    "assigned",
    "renotified",
    "escalated",
    "escalated_fyi",
    "sla_warning",
    "sla_breached",
)
MAX_DELAY = timedelta(days=1)


def urgency_of(priority: str) -> Urgency:
    return "high" if priority in ("P1", "P2") else "low"


def fingerprint(secret: str) -> str:
    """A short sha256 of a secret: enough to tell two apart, nothing to recover one from."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


class Contact(BaseModel):
    """One way to reach someone: ``address`` for email, ``url`` for the others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name = Field(description="How rules name this contact (unique per person or team)")
    type: ContactType
    address: str | None = Field(default=None, max_length=320, description="The email address (email only)")
    url: str | None = Field(
        default=None, max_length=2000, description="The webhook or Apprise URL (not email); never shown back"
    )

    @model_validator(mode="after")
    def _target(self) -> Contact:
        if self.type == "email" and (self.address is None or self.url is not None):
            raise ValueError("an email contact has an address and no url")
        if self.type != "email" and (self.url is None or self.address is not None):
            raise ValueError(f"a {self.type} contact has a url and no address")
        return self

    @property
    def target(self) -> str:
        """Where messages go: the address or the URL."""
        return self.address if self.address is not None else str(self.url)

    def shown(self) -> str:
        """The target as answers show it: an address as is, a URL by its fingerprint."""
        return self.address if self.address is not None else fingerprint(str(self.url))


class Step(BaseModel):
    """A contact a rule notifies, ``after`` the message is owed (cancelled once acknowledged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact: Name
    after: Duration = Field(default=timedelta(0), ge=timedelta(0), le=MAX_DELAY)


class Rule(BaseModel):
    """Which contacts hear which kinds of message at which urgency; the first matching rule wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urgency: list[Urgency] = Field(default_factory=lambda: list(URGENCIES), min_length=1)
    kinds: list[AgentKind] = Field(default_factory=lambda: list(AGENT_KINDS), min_length=1)
    notify: list[Step] = Field(min_length=1, max_length=10)

    def matches(self, kind: str, urgency: Urgency) -> bool:
        return urgency in self.urgency and kind in self.kinds


def _unique_contacts(contacts: list[Contact]) -> None:
    names = [c.name for c in contacts]
    if len(names) != len(set(names)):
        raise ValueError("contact names must be unique")


class Person(BaseModel):
    """Someone Tierline tells about their work: an agent (by the router's name) or a lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    rules: list[Rule] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> Person:
        _unique_contacts(self.contacts)
        known = {c.name for c in self.contacts}
        for i, rule in enumerate(self.rules):
            unknown = [s.contact for s in rule.notify if s.contact not in known]
            if unknown:
                raise ValueError(f"rules[{i}] names contacts the person does not have: {', '.join(unknown)}")
        return self

    def contact(self, name: str) -> Contact | None:
        return next((c for c in self.contacts if c.name == name), None)

    def steps(self, kind: str, urgency: Urgency) -> list[tuple[Contact, timedelta]]:
        """The contacts a message of ``kind`` goes to, each with its delay (all at once without rules)."""
        if not self.rules:
            return [(c, timedelta(0)) for c in self.contacts]
        rule = next((r for r in self.rules if r.matches(kind, urgency)), None)
        if rule is None:
            return []
        return [(c, s.after) for s in rule.notify if (c := self.contact(s.contact)) is not None]


class Team(BaseModel):
    """A queue's people: its channels (chat rooms, a mailing list) and its lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name = Field(description="The router's queue name")
    lead: Name | None = Field(default=None, description="A person told at the last SLA warning and on breach")
    channels: list[Contact] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> Team:
        _unique_contacts(self.channels)
        return self
