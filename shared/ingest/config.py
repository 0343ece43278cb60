"""Ingest's own settings (rate limits, duplicate window, timestamp bounds).

Kept beside ingest rather than in the shared settings so the tracking endpoint can be tuned
without touching what every other function reads. Read from ``CDP_INGEST_*`` variables.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_INGEST_", extra="ignore")

    # Per-source rate limit, in events per second per instance, with a burst allowance. An
    # instance-local bucket needs no shared state; max_instances bounds the global rate.
    rate_per_second: float = 5_000.0
    burst: float = 20_000.0
    # Overrides by source id: {"web": [rate, burst]}.
    source_rates: dict[str, tuple[float, float]] = Field(default_factory=dict)

    # Recent messageIds remembered per instance to drop SDK retries before they cost anything.
    dedup_window_seconds: float = 24 * 3600.0
    dedup_max_ids: int = 200_000

    # A device clock can be wrong even after the sentAt correction: beyond these bounds the
    # event is stamped with receivedAt (what it said is kept in originalTimestamp).
    max_future_seconds: float = 24 * 3600.0
    max_past_days: int = 5 * 365

    # Deeper than this and Firestore (20 levels per document) or BigQuery JSON would refuse it.
    max_depth: int = 16

    @field_validator("source_rates", mode="before")
    @classmethod
    def _parse_rates(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def rate_of(self, source_id: str) -> tuple[float, float]:
        return self.source_rates.get(source_id, (self.rate_per_second, self.burst))
