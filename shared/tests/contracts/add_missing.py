"""Write a golden payload for every event contract that has none yet; never touches an existing one.

    .venv/bin/python shared/tests/contracts/add_missing.py

A golden is the JSON a contract version put on the wire, frozen: once committed it stays as it
is, and shared/tests/unit/test_golden_payloads.py proves it still parses (upcast to the newest
version where there is one). Edit a new golden by hand to something realistic before committing.
"""

from __future__ import annotations

import datetime
import enum
import json
import types
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from tierline_shared.events import registered_types

HERE = Path(__file__).resolve().parent


def sample(tp: Any, name: str) -> Any:
    """A plausible value of a field's type: every optional field filled, so the golden covers it."""
    origin = get_origin(tp)
    if origin is Annotated:
        return sample(get_args(tp)[0], name)
    if origin in (Union, types.UnionType):
        return sample(next(a for a in get_args(tp) if a is not type(None)), name)
    if origin is Literal:
        return get_args(tp)[0]
    if origin in (list, tuple, set, frozenset):
        args = get_args(tp)
        return [sample(args[0], name)] if args else []
    if origin is dict:
        return {}
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return {key: sample(field.annotation, key) for key, field in tp.model_fields.items()}
        if issubclass(tp, enum.Enum):
            return next(iter(tp)).value
        simple = {
            uuid.UUID: str(uuid.UUID(int=1)),
            datetime.datetime: "2026-12-04T09:00:00+00:00",
            datetime.date: "2026-12-04",
            datetime.timedelta: 60.0,
            bool: False,
            int: 1,
            float: 1.0,
            str: name,
        }
        if tp in simple:
            return simple[tp]
    return None


def main() -> None:
    for event_type, cls in sorted(registered_types().items()):
        path = HERE / f"{event_type}.json"
        if path.exists():
            continue
        payload = {key: sample(field.annotation, key) for key, field in cls.model_fields.items()}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
