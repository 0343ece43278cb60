"""Every stack setting, read here and nowhere else.

Keys (namespace ``cdp`` unless stated; ``pulumi config set <key> <value>``):

- ``gcp:project`` (required) and ``gcp:region`` (default ``europe-west1``).
- ``cdp:firestoreLocation``: Firestore's location (default: the region).
- ``cdp:settings``: an object of ``shared.settings.Settings`` fields for the functions (tier
  settings, dataset prefix, BigQuery location, cold-archive expiry, ...). Names are checked
  against ``Settings`` and values validated by it, so a typo fails the preview instead of being
  deployed and ignored.
- ``cdp:sources`` (secret): the JSON list of sources with hashed write keys (``CDP_SOURCES``).
- ``cdp:destinations``: names of the enabled destinations; ``cdp:destinationKeys`` (secret): an
  object name → API key. Each enabled destination gets a Secret Manager secret, and a
  destination with a function of its own (the webhook) is deployed only when enabled.
- ``cdp:protectData`` (default true): datasets, tables and Firestore survive ``pulumi destroy``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared.destinations.backfill import opted_in
from shared.settings import Settings, Source

DEFAULT_REGION = "europe-west1"
# Set by the program itself (or secret, or local-only): never through cdp:settings.
# Secrets: from Secret Manager only (sources' key hashes, the GA4 API secret, the webhook's
# signing secret): a destination's is its key in cdp:destinationKeys.
SECRET_SETTINGS = frozenset({"sources", "ga4_api_secret", "webhook_secret"})
RESERVED_SETTINGS = frozenset({"project_id", "region", "environment"}) | SECRET_SETTINGS
LOCAL_ONLY_SETTINGS = frozenset({"bigquery_endpoint"})
DESTINATION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class ConfigError(Exception):
    """The stack configuration is invalid; raised before any resource is declared."""


class CloudSettings(Settings):
    """The deployed settings: from stack config only, never from the deployer's shell, where a
    ``CDP_*`` variable left over from local development would otherwise leak into the cloud."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class StackConfig:
    project: str
    region: str
    stack: str
    firestore_location: str
    settings: Settings
    sources_json: pulumi.Output[str]  # secret
    destinations: tuple[str, ...] = ()
    destination_keys: pulumi.Output[Mapping[str, str]] = field(
        default_factory=lambda: pulumi.Output.secret({})
    )
    protect_data: bool = True

    def function_environment(self) -> dict[str, str]:
        return function_environment(self.settings)


def function_environment(settings: Settings) -> dict[str, str]:
    """``CDP_*`` variables for the functions: every setting but the secret and local ones.
    Written out in full, so what a function runs with is visible on the function itself."""
    skipped = SECRET_SETTINGS | LOCAL_ONLY_SETTINGS
    values = settings.model_dump(mode="json", exclude=set(skipped))
    return {f"CDP_{name.upper()}": _env_value(value) for name, value in values.items()}


def _env_value(value: Any) -> str:
    """What pydantic-settings parses back: plain scalars as text, anything else as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def cloud_settings(project: str, region: str, stack: str, overrides: Mapping[str, Any]) -> Settings:
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"cdp:settings has unknown field(s) {unknown}; see shared/settings.py")
    refused = sorted(set(overrides) & (RESERVED_SETTINGS | LOCAL_ONLY_SETTINGS))
    if refused:
        raise ConfigError(f"cdp:settings may not set {refused}: the program sets them")
    return CloudSettings(project_id=project, region=region, environment=stack, **overrides)


def check_destinations(settings: Settings, destinations: tuple[str, ...]) -> list[str]:
    """Refuse settings that would lose data; name those that deploy something idle."""
    unreceived = sorted(set(opted_in(settings)) - set(destinations))
    if unreceived:
        raise ConfigError(
            f"cdp:settings opts {unreceived} into back-fills but cdp:destinations does not enable"
            " them: the sweep would publish back-fills nobody receives and mark them sent"
        )
    if "webhook" in destinations and not settings.webhook_url:
        return ["webhook is enabled but cdp:settings.webhook_url is empty: it will send nothing"]
    return []


def _validated_sources(raw: str) -> str:
    """Validate the sources JSON at deploy time (it is a secret, so only known inside apply)."""
    sources = TypeAdapter(list[Source]).validate_json(raw or "[]")
    return json.dumps([s.model_dump() for s in sources], separators=(",", ":"))


def load() -> StackConfig:
    gcp = pulumi.Config("gcp")
    cdp = pulumi.Config("cdp")
    project = gcp.require("project")
    region = gcp.get("region") or DEFAULT_REGION
    stack = pulumi.get_stack()
    destinations = tuple(cdp.get_object("destinations") or ())
    bad = [d for d in destinations if not isinstance(d, str) or not DESTINATION_NAME.match(d)]
    if bad:
        raise ConfigError(f"cdp:destinations must be lowercase names, got {bad}")
    sources = cdp.get_secret("sources")
    if sources is None:
        pulumi.log.warn("cdp:sources is not set: ingest will answer 401 to every write key")
        sources = pulumi.Output.secret("[]")
    keys = cdp.get_secret_object("destinationKeys")
    settings = cloud_settings(project, region, stack, cdp.get_object("settings") or {})
    for warning in check_destinations(settings, destinations):
        pulumi.log.warn(warning)
    return StackConfig(
        project=project,
        region=region,
        stack=stack,
        firestore_location=cdp.get("firestoreLocation") or region,
        settings=settings,
        sources_json=sources.apply(_validated_sources),
        destinations=destinations,
        destination_keys=keys if keys is not None else pulumi.Output.secret({}),
        protect_data=cdp.get_bool("protectData") is not False,
    )
