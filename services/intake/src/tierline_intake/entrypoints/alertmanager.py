"""Prometheus Alertmanager's webhook payload (``webhook_config``, version "4").

Alertmanager POSTs one of these per notification of an alert group; each element of ``alerts``
is one alert, identified by its ``fingerprint``. Unknown keys are ignored, so senders that add
fields of their own (Grafana's ``orgId``, ``silenceURL``, ``values``...) are accepted too.

Reference: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config

The mapping to incidents lives in :mod:`tierline_intake.domain.alerts`, which takes the plain
dict of :meth:`AlertmanagerWebhook.as_plain` (``model_dump(mode="json", by_alias=True)``, i.e.
Alertmanager's own key names).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierline_shared.schemas import StorableModel

AlertStatus = Literal["firing", "resolved"]

# Go's zero time: what Alertmanager sends as endsAt while an alert has no known end.
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

_CONFIG = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)


def _null_is_empty(value: Any) -> Any:
    return {} if value is None else value


class AlertmanagerAlert(BaseModel):
    """One alert of the group."""

    model_config = _CONFIG

    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    # "0001-01-01T00:00:00Z" (GO_ZERO_TIME) while the alert is still firing without a known end.
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _maps_or_empty(cls, value: Any) -> Any:
        return _null_is_empty(value)

    @property
    def has_end(self) -> bool:
        """Whether endsAt is a real instant (not absent, not Go's zero time)."""
        return self.ends_at is not None and self.ends_at.year > 1


class AlertmanagerWebhook(StorableModel):
    """The whole notification: a group of alerts sharing ``groupLabels``."""

    model_config = ConfigDict(
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "version": "4",
                    "groupKey": '{}:{alertname="HighErrorRate"}',
                    "truncatedAlerts": 0,
                    "status": "firing",
                    "receiver": "tierline",
                    "groupLabels": {"alertname": "HighErrorRate"},
                    "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager.example.com:9093",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"alertname": "HighErrorRate", "severity": "critical"},
                            "annotations": {"summary": "5xx above 5% on checkout"},
                            "startsAt": "2024-03-01T10:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=...",
                            "fingerprint": "a1b2c3d4e5f60718",
                        }
                    ],
                }
            ]
        },
    )

    version: str = "4"
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert]

    @field_validator("group_labels", "common_labels", "common_annotations", mode="before")
    @classmethod
    def _maps_or_empty(cls, value: Any) -> Any:
        return _null_is_empty(value)

    def as_plain(self) -> dict[str, Any]:
        """The payload as JSON-ready plain data with Alertmanager's key names."""
        return self.model_dump(mode="json", by_alias=True)
