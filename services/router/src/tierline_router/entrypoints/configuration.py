"""What the router's configuration APIs (agents, queues, escalation policies) share."""

from __future__ import annotations

from typing import Any

from tierline_shared.api import KEY_PROBLEMS

TAGS = ["configuration"]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such agent, queue or policy (problem+json)"},
    409: {"description": "The name is taken, it is in use, or the change leaves a gap (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}
