"""Settings every service shares; each service subclasses it once in its config.py."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://tierline@127.0.0.1:5432/tierline",
        description="This service's own database (asyncpg URL; plain postgresql:// is accepted).",
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("TIERLINE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    config_dir: Path = Field(
        default=Path("deploy/config"),
        description="Folder of the YAML configuration (config as code).",
    )
    public_url: str | None = Field(default=None, description="Base URL clients use to reach this service.")
    bootstrap_api_key: str | None = Field(
        default=None, description="An admin API key accepted from the start (TIERLINE_BOOTSTRAP_API_KEY)."
    )
    rate_limit_per_minute: int = Field(
        default=600, description="Requests a minute per API key; 0 = unlimited."
    )
    max_body_bytes: int = Field(default=256 * 1024, description="Larger request bodies are refused with 413.")
    outbox_batch_size: int = 200
    outbox_idle_seconds: float = 0.2
    consumer_max_attempts: int = 5
    consumer_retry_initial_seconds: float = 0.05
    consumer_retry_max_seconds: float = 2.0
    kafka_topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name, so several environments can share one cluster.",
    )
    topic_partitions: int = 6
    topic_replication_factor: int = 1

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
