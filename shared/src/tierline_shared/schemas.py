"""Base of every HTTP input model: refuses text PostgreSQL cannot store, naming where it is."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def _find_nul(value: Any, path: str = "") -> str | None:
    if isinstance(value, str):
        return path or "/" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            if "\x00" in key_text:
                return f"{path}/{key_text.replace(chr(0), '')}"
            found = _find_nul(item, f"{path}/{key_text}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_nul(item, f"{path}/{index}")
            if found:
                return found
    return None


class ApiModel(BaseModel):
    """Input models refuse unknown fields and NUL characters (events and PostgreSQL cannot carry them)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = _find_nul(data)
        if where:
            raise PydanticCustomError(
                "nul_character", "text must not contain NUL characters (at {where})", {"where": where}
            )
        return data
