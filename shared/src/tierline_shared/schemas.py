"""Base of every HTTP input model: refuses text PostgreSQL cannot store, naming where it is."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from tierline_shared.text import unstorable

__all__ = ["ApiModel", "StorableModel", "find_unstorable", "unstorable"]


def find_unstorable(value: Any, path: str = "") -> str | None:
    """JSON pointer of the first text PostgreSQL cannot store, or None."""
    if isinstance(value, str):
        return path or "/" if unstorable(value) else None
    if isinstance(value, float) and not math.isfinite(value):
        return path or "/"
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            if unstorable(key_text):
                return f"{path}/<key>"
            found = find_unstorable(item, f"{path}/{key_text}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable(item, f"{path}/{index}")
            if found:
                return found
    return None


class StorableModel(BaseModel):
    """Refuses input PostgreSQL cannot store, naming where it is (no other rule about extras)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        where = find_unstorable(data)
        if where:
            raise PydanticCustomError(
                "unstorable_text",
                "no NUL characters or lone surrogates in text, no NaN or infinite numbers (at {where})",
                {"where": where},
            )
        return data


class ApiModel(StorableModel):
    """Input models refuse unknown fields and what events and PostgreSQL cannot carry."""

    model_config = ConfigDict(extra="forbid")
