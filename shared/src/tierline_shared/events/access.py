"""Events about API keys: intake issues them; every service keeps its own copy to check them.

Only the key's hash and scopes travel, never the key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from tierline_shared.events import topics
from tierline_shared.events.base import Event, contract

Scope = Literal["incidents:read", "incidents:write", "admin"]


class ApiKeyEvent(Event):
    key_id: uuid.UUID

    def subject(self) -> str:
        return str(self.key_id)


@contract("tierline.apikey.created.v1", topics.ACCESS)
class ApiKeyCreated(ApiKeyEvent):
    name: str
    key_hash: str
    scopes: list[Scope]
    created_at: datetime


@contract("tierline.apikey.revoked.v1", topics.ACCESS)
class ApiKeyRevoked(ApiKeyEvent):
    revoked_at: datetime
