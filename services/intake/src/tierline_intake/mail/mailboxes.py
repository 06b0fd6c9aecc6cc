"""The addresses intake takes mail for (``mailboxes.yaml``): what a new incident from each is.

    mailboxes:
      support@tierline.localhost: {service: desk, category: general, impact: medium, urgency: medium}

A bad file stops the start with the entry and the reason (tierline_shared.config_files).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierline_intake.config import Settings
from tierline_shared.config_files import ConfigError, load_yaml

SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # as POST /v1/incidents takes a service or category
ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")

Level = Literal["high", "medium", "low"]


class Mailbox(BaseModel):
    """What an incident made from a mail to this address is: service, category, priority inputs, type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(min_length=1, max_length=120, pattern=SLUG)
    category: str = Field(min_length=1, max_length=120, pattern=SLUG)
    impact: Level = "medium"
    urgency: Level = "medium"
    type: Literal["incident", "service_request"] = "incident"


class Mailboxes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailboxes: dict[str, Mailbox] = Field(default_factory=dict)

    @field_validator("mailboxes")
    @classmethod
    def _addresses(cls, value: dict[str, Mailbox]) -> dict[str, Mailbox]:
        boxes: dict[str, Mailbox] = {}
        for address, box in value.items():
            if not ADDRESS.match(address) or len(address) > 320:
                raise ValueError(f"{address!r} is not an email address (local@domain)")
            if address.lower() in boxes:
                raise ValueError(f"{address!r} is listed twice (addresses are case-insensitive)")
            boxes[address.lower()] = box
        return boxes

    def find(self, address: str) -> Mailbox | None:
        """The mailbox of ``address`` (case-insensitive; ``<…>`` brackets allowed), or None."""
        return self.mailboxes.get(normalise(address))

    def first(self, recipients: Sequence[str]) -> tuple[str, Mailbox] | None:
        """The first recipient naming a mailbox, with it."""
        for address in recipients:
            box = self.find(address)
            if box is not None:
                return normalise(address), box
        return None


def normalise(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def load_mailboxes(settings: Settings) -> Mailboxes:
    """The configured mailboxes; none when the file is absent, unless the receiver needs them."""
    path = settings.config_dir / settings.mail_mailboxes_file
    if not path.exists():
        if settings.mail_listen:
            raise ConfigError(f"config file not found: {path} (TIERLINE_MAIL_LISTEN needs mailboxes)")
        return Mailboxes()
    boxes = load_yaml(path, Mailboxes)
    if settings.mail_listen and not boxes.mailboxes:
        raise ConfigError(f"{path}: mailboxes: names no address (TIERLINE_MAIL_LISTEN needs one)")
    return boxes
