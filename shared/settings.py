"""Every setting in one typed place. Local defaults; the cloud sets them through the environment.

Secrets (write-key hashes, destination keys) arrive through the environment, which Cloud
Functions fills from Secret Manager; nothing secret lives in code. Reading settings connects to
nothing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.identity.config import IdentityConfig


class Source(BaseModel):
    """A place events come from. Its write key is stored only as a SHA-256 hex digest."""

    id: str
    name: str
    kind: str = "web"  # web | ios | android | server | third_party
    write_key_sha256: str
    enabled: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    project_id: str = "cdp-local"
    region: str = "europe-west1"
    environment: str = "local"

    # BigQuery: datasets per layer, named <prefix>_<layer>.
    dataset_prefix: str = "cdp"
    bigquery_location: str = "EU"
    bigquery_endpoint: str | None = None  # set to the emulator's URL locally
    cold_archive_expiration_days: int = 60

    # Firestore.
    firestore_database: str = "(default)"

    # Identity resolution: per-type limits, blocked values, priority (JSON in CDP_IDENTITY).
    identity: IdentityConfig = Field(default_factory=IdentityConfig)

    # Sources and their hashed write keys: a JSON list of Source objects.
    sources: list[Source] = Field(default_factory=list)

    # Ingest limits.
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024

    @field_validator("sources", mode="before")
    @classmethod
    def _parse_sources(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    def dataset(self, layer: str) -> str:
        return f"{self.dataset_prefix}_{layer}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
