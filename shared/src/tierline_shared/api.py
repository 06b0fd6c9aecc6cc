"""What every service's routes share: the runtime and a key's scope as FastAPI dependencies, and the
problem responses of authentication.

A route takes ``rt: RuntimeDep`` for the service's runtime and ``principal: Reader`` (``Writer``,
``Admin``) for a valid key with that scope (see ``auth.require``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from tierline_shared.auth import Principal, require
from tierline_shared.runtime import Runtime, get_runtime

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Reader = Annotated[Principal, Depends(require("incidents:read"))]
Writer = Annotated[Principal, Depends(require("incidents:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]

# What a route behind a key may answer; a module adds its own: {**KEY_PROBLEMS, 404: {...}}.
KEY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one (problem+json)"},
    403: {"description": "The key lacks the scope (problem+json)"},
}
