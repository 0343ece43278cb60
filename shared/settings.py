"""Every setting in one typed place. Local defaults; the cloud sets them through the environment.

Secrets (write-key hashes, destination keys) arrive through the environment, which Cloud
Functions fills from Secret Manager; nothing secret lives in code. Reading settings connects to
nothing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.identity.config import IdentityConfig
from shared.topology import DESTINATION_ATTEMPTS, RetryPolicy


class Source(BaseModel):
    """A place events come from. Its write key is stored only as a SHA-256 hex digest."""

    id: str
    name: str
    kind: str = "web"  # web | ios | android | server | third_party
    write_key_sha256: str
    enabled: bool = True


class DestinationRetry(BaseModel):
    """Pub/Sub's redelivery for destination subscriptions: backoff from minimum to maximum,
    then the dead-letter topic after ``attempts`` deliveries (5 to 100)."""

    # with 10 s to 10 min of backoff: about six hours; the bounds are Pub/Sub's
    attempts: int = Field(default=DESTINATION_ATTEMPTS, ge=5, le=100)
    minimum_backoff_seconds: int = Field(
        default=RetryPolicy().minimum_backoff_seconds, ge=0, le=600
    )
    maximum_backoff_seconds: int = Field(
        default=RetryPolicy().maximum_backoff_seconds, ge=0, le=600
    )

    @model_validator(mode="after")
    def _ordered(self) -> DestinationRetry:
        if self.minimum_backoff_seconds > self.maximum_backoff_seconds:
            raise ValueError("minimum_backoff_seconds is above maximum_backoff_seconds")
        return self

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.minimum_backoff_seconds, self.maximum_backoff_seconds)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore")

    project_id: str = "cdp-local"
    function: str = ""  # the topology's name of the function this process serves (CDP_FUNCTION)
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
    # the backend's, and the platform's own (audience changes, SQL sources: always of a profile)
    tier_engaged_source_kinds: list[str] = Field(default_factory=lambda: ["server", "internal"])
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

    # Destinations (shared.destinations): the enabled ones, by name, comma-separated or a JSON
    # list. Each reads its own settings from CDP_<NAME>_* (its module's <Name>Settings).
    destinations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Consent categories that need an explicit grant (GDPR opt-in); others: allowed unless refused.
    consent_opt_in: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How destinations retry (JSON): the cloud keeps hours; tests and the local stack shorten it.
    destination_retry: DestinationRetry = Field(default_factory=lambda: DestinationRetry())

    # Governance: the secret of every keyed hash (HMAC-SHA256): the PII policy ``hash`` and the
    # suppression list of privacy requests. From Secret Manager via the env (CDP_PII_HASH_KEY).
    pii_hash_key: str = Field(default="", repr=False)
    # The tracking plan ingest enforces (a YAML path); empty: the shipped fintech plan.
    tracking_plan: str = ""

    # Audiences and computed traits (shared.audiences): the definitions file (YAML); empty: the
    # shipped lifecycle stages.
    audience_definitions: str = ""

    # MTU report: the list price one Monthly Tracked User costs on a per-MTU CDP.
    mtu_list_price_usd: float = 0.01

    @field_validator("destinations", "consent_opt_in", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().lower() for part in text.split(",") if part.strip()]
        return value

    def enabled_destinations(self) -> list[str]:
        """The destinations fed by the engaged pipeline (the cold path's ``ga4`` is not)."""
        return [name for name in self.destinations if name != "ga4"]

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
