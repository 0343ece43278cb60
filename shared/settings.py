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

    # Engagement tiers (shared.tiering): what makes an event engaged, and promotion. Lists
    # come from the environment as JSON, e.g. CDP_TIER_ENGAGEMENT_EVENTS='["sign_up"]'.
    tier_enabled: bool = True  # off: every event takes the full pipeline
    tier_engagement_events: list[str] = Field(
        default_factory=lambda: [
            "sign_up",
            "account_created",
            "kyc_started",
            "kyc_completed",
            "bank_account_linked",
            "direct_deposit_enabled",
            "transaction_initiated",
            "transaction_completed",
            "card_activated",
        ]
    )
    tier_engaged_source_kinds: list[str] = Field(default_factory=lambda: ["server"])
    tier_negative_cache_seconds: float = 5.0  # how stale "not promoted" may be on an instance
    tier_cache_max_ids: int = 200_000
    tier_session_threshold: int = 3  # promoted after this many sessions ...
    tier_session_window_days: int = 7  # ... within this many days (the scheduled sweep)
    tier_session_gap_minutes: int = 30  # inactivity that starts a new session
    tier_attribution_lookback_days: int = 3  # how far back a first sweep looks for entered ids
    tier_attribution_window_days: int = 30  # how far back a first touch is looked for
    tier_sweep_settle_seconds: float = 300.0  # ids newer than this wait for the next sweep

    # GA4 Measurement Protocol (cold path). Empty measurement id or secret: nothing is sent.
    ga4_measurement_id: str = ""
    ga4_api_secret: str = Field(default="", repr=False)  # from Secret Manager via the env
    ga4_endpoint: str = "https://www.google-analytics.com"  # tests: the local stand-in
    ga4_validate: bool = False  # also check each payload on /debug/mp/collect first
    ga4_timeout_seconds: float = 10.0

    # Generic webhook destination (shared.destinations.webhook). Empty URL: nothing is sent.
    webhook_url: str = ""
    webhook_secret: str = Field(default="", repr=False)  # HMAC-SHA256 signing key, from secrets
    webhook_event_types: list[str] = Field(default_factory=list)  # e.g. ["track"]; [] = all
    webhook_events: list[str] = Field(default_factory=list)  # track names; [] = all
    webhook_consent_category: str = ""  # sent only where the user has not refused it
    webhook_backfill: bool = False  # opt in: receive promoted ids' pre-promotion journeys
    webhook_max_events: int = 100  # events per request ...
    webhook_max_bytes: int = 500 * 1024  # ... and bytes of events per request (Segment's cap)
    webhook_timeout_seconds: float = 10.0

    # MTU report: the list price one Monthly Tracked User costs on a per-MTU CDP.
    mtu_list_price_usd: float = 0.01

    @field_validator("sources", mode="before")
    @classmethod
    def _parse_sources(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    def dataset(self, layer: str) -> str:
        return f"{self.dataset_prefix}_{layer}"

    def table(self, layer: str, name: str) -> str:
        """A table's or view's full name, as SQL names it: ``project.dataset.name``."""
        return f"{self.project_id}.{self.dataset(layer)}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
