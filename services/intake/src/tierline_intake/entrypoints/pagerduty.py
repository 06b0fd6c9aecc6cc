"""PagerDuty Events API v2 ("Send an Alert Event") as PagerDuty validates it.

A monitoring tool that pages through PagerDuty can point at Tierline instead without changing
its payload: these models accept exactly what ``POST https://events.pagerduty.com/v2/enqueue``
accepts (unknown keys are ignored, as PagerDuty ignores them) and :func:`pagerduty_errors`
words the rejections the way PagerDuty does, for its 400 body::

    {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}

Reference: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/

The mapping to an incident lives in :mod:`tierline_intake.domain.alerts`, which takes the plain
dict of :meth:`PagerDutyEvent.as_plain` (``model_dump(mode="json", by_alias=True)``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from tierline_shared.schemas import StorableModel

EventAction = Literal["trigger", "acknowledge", "resolve"]
# The order PagerDuty lists them in its own error message.
Severity = Literal["critical", "warning", "error", "info"]

EVENT_ACTIONS: tuple[str, ...] = ("trigger", "acknowledge", "resolve")
SEVERITIES: tuple[str, ...] = ("critical", "warning", "error", "info")

ROUTING_KEY_MAX = 64  # PagerDuty's integration keys are 32 characters; room for other schemes.
DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024

INVALID_EVENT_STATUS: Final = "invalid event"
INVALID_EVENT_MESSAGE = "Event object is invalid"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_not_blank)]

# The length check comes before the blank check so that an overlong value reports "too long".
RoutingKey = Annotated[str, Field(max_length=ROUTING_KEY_MAX), AfterValidator(_not_blank)]
Summary = Annotated[str, Field(max_length=SUMMARY_MAX), AfterValidator(_not_blank)]

_IGNORE_EXTRA = ConfigDict(extra="ignore")


class PagerDutyLink(BaseModel):
    """An element of ``links``: a text link attached to the alert."""

    model_config = _IGNORE_EXTRA

    href: NonBlank
    text: str | None = None


class PagerDutyImage(BaseModel):
    """An element of ``images``: an image (HTTPS URL) attached to the alert."""

    model_config = _IGNORE_EXTRA

    src: NonBlank
    href: str | None = None
    alt: str | None = None


class PagerDutyPayload(BaseModel):
    """``payload`` of a trigger event (PagerDuty Common Event Format)."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    summary: Summary
    source: NonBlank
    severity: Severity
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: JsonValue = None


class PagerDutyEvent(StorableModel):
    """One alert event: ``trigger``, ``acknowledge`` or ``resolve``.

    ``dedup_key`` is required to acknowledge or resolve, optional to trigger (Tierline then makes
    one up, as PagerDuty does). ``payload`` is required to trigger and ignored otherwise, as by
    PagerDuty. A blank ``dedup_key`` on a trigger counts as absent.
    """

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "routing_key": "samplekeyhere",
                    "event_action": "trigger",
                    "dedup_key": "samplekeyhere",
                    "payload": {
                        "summary": "Example alert on host1.example.com",
                        "source": "host1.example.com",
                        "severity": "info",
                        "timestamp": "2015-07-17T08:42:58.315+0000",
                        "component": "postgres",
                        "group": "prod-datapipe",
                        "class": "deploy",
                        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
                    },
                    "links": [{"href": "https://example.com/", "text": "Link text"}],
                    "client": "Sample Monitoring Service",
                    "client_url": "https://monitoring.example.com",
                }
            ]
        },
    )

    # Field order matters: the validators below read the already validated event_action.
    routing_key: RoutingKey
    event_action: EventAction
    dedup_key: Annotated[str, Field(max_length=DEDUP_KEY_MAX)] | None = Field(
        default=None, validate_default=True
    )
    payload: PagerDutyPayload | None = Field(default=None, validate_default=True)
    links: list[PagerDutyLink] = Field(default_factory=list)
    images: list[PagerDutyImage] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None

    @field_validator("dedup_key")
    @classmethod
    def _dedup_key_for_follow_ups(cls, value: str | None, info: ValidationInfo) -> str | None:
        blank = value is None or not value.strip()
        action = info.data.get("event_action")
        if action in ("acknowledge", "resolve") and blank:
            raise PydanticCustomError("pd_required", "required to {action}", {"action": action})
        return None if blank else value

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_only_matters_for_triggers(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("event_action") in ("acknowledge", "resolve"):
            return None  # PagerDuty ignores the payload of a follow-up event.
        return value

    @field_validator("payload")
    @classmethod
    def _payload_for_triggers(cls, value: PagerDutyPayload | None, info: ValidationInfo) -> Any:
        if value is None and info.data.get("event_action") == "trigger":
            raise PydanticCustomError("pd_required", "required to {action}", {"action": "trigger"})
        return value

    @field_validator("links", "images", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    def as_plain(self) -> dict[str, Any]:
        """The event as JSON-ready plain data with PagerDuty's key names (``class``)."""
        return self.model_dump(mode="json", by_alias=True)


class PagerDutyAccepted(BaseModel):
    """PagerDuty's 202 body, which senders read the ``dedup_key`` from."""

    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str


class PagerDutyInvalidEvent(BaseModel):
    """PagerDuty's 400 body."""

    status: Literal["invalid event"] = INVALID_EVENT_STATUS
    message: str = INVALID_EVENT_MESSAGE
    errors: list[str]


_EXPECTED = {
    "event_action": "'trigger', 'acknowledge' or 'resolve'",
    "payload.severity": "'critical', 'warning', 'error' or 'info'",
}
_TYPE_NAMES = {
    "string_type": "a string",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "datetime_type": "an ISO 8601 timestamp",
    "datetime_parsing": "an ISO 8601 timestamp",
    "datetime_from_date_parsing": "an ISO 8601 timestamp",
    "datetime_object_invalid": "an ISO 8601 timestamp",
    "invalid_json_value": "a JSON value",
}


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _message(error: Any) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if not loc:
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            return "Event must be a JSON object"
        return str(error["msg"])
    path = _path(loc)
    if kind in ("missing", "blank", "pd_required", "string_too_short", "none_required"):
        return f"'{path}' is missing or blank"
    if kind == "string_too_long":
        return f"'{path}' is too long (maximum is {ctx.get('max_length')} characters)"
    if kind == "literal_error":
        expected = _EXPECTED.get(path, ctx.get("expected", ""))
        return f"'{path}' is invalid (must be one of the following: {expected})"
    if kind in _TYPE_NAMES:
        if kind in ("string_type", "dict_type", "model_type", "list_type") and error.get("input") is None:
            return f"'{path}' is missing or blank"
        return f"'{path}' is invalid (must be {_TYPE_NAMES[kind]})"
    return f"'{path}' is invalid ({error['msg']})"


def pagerduty_errors(exc: ValidationError) -> list[str]:
    """PagerDuty-style messages for a rejected event, e.g. ``'payload.summary' is missing or blank``.

    One message per problem, in field order, without duplicates.
    """
    messages: list[str] = []
    for error in exc.errors(include_url=False):
        message = _message(error)
        if message not in messages:
            messages.append(message)
    return messages


def invalid_event_body(exc: ValidationError) -> dict[str, Any]:
    """The whole 400 body PagerDuty answers an invalid event with."""
    return PagerDutyInvalidEvent(errors=pagerduty_errors(exc)).model_dump()
