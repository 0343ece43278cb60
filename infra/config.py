"""Every stack setting, read here and nowhere else.

Keys (namespace ``cdp`` unless stated; ``pulumi config set <key> <value>``):

- ``gcp:project`` (required) and ``gcp:region`` (default ``europe-west1``).
- ``cdp:firestoreLocation``: Firestore's location (default: the region).
- ``cdp:settings``: an object of ``shared.settings.Settings`` fields for the functions (tier
  settings, dataset prefix, BigQuery location, cold-archive expiry, ``consent_opt_in``,
  ``destination_retry``, ...) and of destinations' non-secret settings as ``<name>_<field>``
  (``webhook_url``, ``meta_pixel_id``, ``slack_templates``: see ``infra/destinations.py``).
  Names are checked against the settings classes and values validated by them, so a typo fails
  the preview instead of being deployed and ignored.
- ``cdp:sources`` (secret): the JSON list of sources with hashed write keys (``CDP_SOURCES``).
- ``cdp:destinations``: names of the enabled destinations (``shared.topology.DESTINATIONS`` and
  the cold path's ``ga4``); a destination not listed has no function and no subscription.
- ``cdp:destinationKeys`` (secret): name → object of the destination's secrets
  (``{"amplitude": {"api_key": ...}, "ga4": {"api_secret": ...}}``); each becomes one Secret
  Manager secret that only the destination's function reads, as ``CDP_<NAME>_<FIELD>``.
- ``cdp:protectData`` (default true): datasets, tables and Firestore survive ``pulumi destroy``.
- ``cdp:analysts``: who reads the analysts' dataset (``<prefix>_analytics``) and nothing else of
  the warehouse: one IAM member (``group:analysts@example.com``) or a JSON list of them.
- ``cdp:piiHashKey`` (secret, required), ``cdp:deletionKeys`` (secret) and the ``quality_*`` and
  ``deletion_*`` keys of ``cdp:settings``: governance's, see ``infra/governance.py``.
- ``cdp:alertEmail``, ``cdp:alertOldestUnackedMinutes``, ``cdp:alertErrorsPerMinute``,
  ``cdp:billingAccount`` and ``cdp:budgetAmount``: the alerts' and the budget's, see
  ``infra/alerts.py``.

Every function gets the same plain environment: the settings, ``CDP_DESTINATIONS`` (identity
publishes profiled events only when a destination is enabled; the sweep back-fills the opted-in
ones) and the enabled destinations' ``CDP_<NAME>_*`` settings. That is more than a function
needs (ingest never reads a destination's settings), but it is what the shared code reads
wherever it runs, and only secrets are worth narrowing: they are, per function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pydantic import TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from infra import governance
from infra.alerts import AlertConfig, read_alerts
from infra.destinations import (
    NAMES,
    destination_keys,
    destination_settings,
    environment,
    missing,
    split,
)
from infra.errors import ConfigError
from shared.destinations.framework import DestinationSettings
from shared.settings import Settings, Source

DEFAULT_REGION = "europe-west1"
# Secrets: from Secret Manager only (the sources' key hashes: cdp:sources; the GA4 API secret:
# cdp:destinationKeys.ga4.api_secret; the hash key: cdp:piiHashKey), never through cdp:settings.
SECRET_SETTINGS = frozenset({"sources", "ga4_api_secret", "pii_hash_key"})
# Set by the program itself: from cdp:destinations, and per function (CDP_FUNCTION).
PROGRAM_SETTINGS = frozenset({"project_id", "region", "environment", "destinations", "function"})
RESERVED_SETTINGS = PROGRAM_SETTINGS | SECRET_SETTINGS
LOCAL_ONLY_SETTINGS = frozenset({"bigquery_endpoint"})
IDLE = "{name} is enabled but {settings} is not set: it is deployed and sends nothing"
NO_KEY = (
    "destination {name!r} is enabled but cdp:destinationKeys has no {keys}, without which it"
    " cannot send (pulumi config set --secret --path 'cdp:destinationKeys.{name}.<field>' ...)"
)
VARIABLE = re.compile(r"CDP_([A-Z0-9]+)_([A-Z0-9_]+)")


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
    settings: Settings  # its ``destinations`` are cdp:destinations
    sources_json: pulumi.Output[str]  # secret
    # What cdp:settings sets of each destination (validated; deployed for enabled ones only).
    destination_settings: Mapping[str, DestinationSettings] = field(default_factory=dict)
    # Enabled destination → secret field → its value (each a Pulumi secret).
    destination_keys: Mapping[str, Mapping[str, pulumi.Output[str]]] = field(default_factory=dict)
    protect_data: bool = True
    analysts: tuple[str, ...] = ()  # IAM members reading the analysts' dataset
    pii_hash_key: pulumi.Output[str] | None = None  # secret: CDP_PII_HASH_KEY
    # What cdp:settings sets of the quality checks and the deletion APIs (quality_*, deletion_*).
    governance: Mapping[str, BaseSettings] = field(default_factory=dict)
    deletion_keys: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)  # secrets
    alerts: AlertConfig = field(default_factory=AlertConfig)

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(self.settings.destinations)

    def function_environment(self) -> dict[str, str]:
        return function_environment(self.settings, self.destination_settings, self.governance)


def function_environment(
    settings: Settings,
    destinations: Mapping[str, DestinationSettings] | None = None,
    groups: Mapping[str, BaseSettings] | None = None,
) -> dict[str, str]:
    """``CDP_*`` variables for the functions: every setting but the secret and local ones, and
    what the stack sets of each enabled destination. Settings are written out in full, so what
    a function runs with is visible on the function itself; a destination's unset fields keep
    its module's defaults."""
    skipped = SECRET_SETTINGS | LOCAL_ONLY_SETTINGS | {"function"}  # CDP_FUNCTION: per function
    values = settings.model_dump(mode="json", exclude=set(skipped))
    found = {f"CDP_{name.upper()}": _env_value(value) for name, value in values.items()}
    for name in settings.destinations:
        if destinations and name in destinations:
            variables = environment(destinations[name], name)
            found.update({key: _env_value(value) for key, value in variables.items()})
    variables = governance.environment(groups or {})
    found.update({key: _env_value(value) for key, value in variables.items()})
    return found


def _env_value(value: Any) -> str:
    """What pydantic-settings parses back: plain scalars as text, anything else as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def cloud_settings(
    project: str,
    region: str,
    stack: str,
    overrides: Mapping[str, Any],
    destinations: tuple[str, ...] = (),
) -> Settings:
    """The functions' Settings from ``cdp:settings``' Settings fields (``split`` first)."""
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"cdp:settings has unknown field(s) {unknown}; see shared/settings.py")
    refused = sorted(set(overrides) & (RESERVED_SETTINGS | LOCAL_ONLY_SETTINGS))
    if refused:
        raise ConfigError(
            f"cdp:settings may not set {refused}: the program sets them (secrets come from"
            " cdp:sources and cdp:destinationKeys, the destinations from cdp:destinations)"
        )
    try:  # Settings refuses what the functions could not run with (a retry Pub/Sub refuses)
        return CloudSettings(
            project_id=project,
            region=region,
            environment=stack,
            destinations=list(destinations),
            **overrides,
        )
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        raise ConfigError(f"cdp:settings is invalid at {fields}: {error}") from None


def check_destinations(
    settings: Settings,
    configured: Mapping[str, DestinationSettings],
    keys: Mapping[str, tuple[str, ...]],
) -> list[str]:
    """Refuse settings that would lose data or cannot authenticate; name those that deploy
    something idle. ``keys``: enabled destination → the secret fields cdp:destinationKeys has."""
    enabled = settings.destinations
    unreceived = sorted(n for n, s in configured.items() if s.backfill and n not in enabled)
    if unreceived:
        raise ConfigError(
            f"cdp:settings opts {unreceived} into back-fills but cdp:destinations does not enable"
            " them: the sweep would publish back-fills nobody receives and mark them sent"
        )
    warnings = []
    for name in enabled:
        secrets, others = missing(name, configured.get(name), keys.get(name, ()))
        if secrets:
            needed = " and ".join(VARIABLE.sub(_key_named, s) for s in secrets)
            raise ConfigError(NO_KEY.format(name=name, keys=needed))
        if others:
            needed = " and ".join(VARIABLE.sub(_setting_named, s) for s in others)
            warnings.append(IDLE.format(name=name, settings=needed))
    return warnings


def _key_named(variable: re.Match[str]) -> str:
    """CDP_META_ACCESS_TOKEN → meta.access_token, where cdp:destinationKeys holds it."""
    return f"{variable[1].lower()}.{variable[2].lower()}"


def _setting_named(variable: re.Match[str]) -> str:
    """CDP_META_PIXEL_ID → cdp:settings.meta_pixel_id, where the stack sets it."""
    return f"cdp:settings.{variable[1].lower()}_{variable[2].lower()}"


def enabled_destinations(raw: Any) -> tuple[str, ...]:
    """``cdp:destinations``: a list of known names (each kept once, in order)."""
    if raw is not None and not isinstance(raw, list):
        raise ConfigError('cdp:destinations must be a list of names, e.g. ["amplitude", "ga4"]')
    names = list(raw or ())
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ConfigError(f"cdp:destinations has unknown name(s) {unknown}; known: {list(NAMES)}")
    return tuple(dict.fromkeys(names))


def _validated_sources(raw: str) -> str:
    """Validate the sources JSON at deploy time (it is a secret, so only known inside apply)."""
    sources = TypeAdapter(list[Source]).validate_json(raw or "[]")
    return json.dumps([s.model_dump() for s in sources], separators=(",", ":"))


def analyst_members(raw: str | None) -> tuple[str, ...]:
    """``cdp:analysts``: one member or a JSON list; each must be one BigQuery can grant."""
    from infra.components.access import member_entry

    text = (raw or "").strip()
    members = json.loads(text) if text.startswith("[") else [text] if text else []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ConfigError("cdp:analysts must be an IAM member or a JSON list of them")
    for member in members:
        try:
            member_entry(member)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return tuple(members)


def load() -> StackConfig:
    gcp = pulumi.Config("gcp")
    cdp = pulumi.Config("cdp")
    project = gcp.require("project")
    region = gcp.get("region") or DEFAULT_REGION
    stack = pulumi.get_stack()
    destinations = enabled_destinations(cdp.get_object("destinations"))
    sources = cdp.get_secret("sources")
    if sources is None:
        pulumi.log.warn("cdp:sources is not set: ingest will answer 401 to every write key")
        sources = pulumi.Output.secret("[]")
    rest, groups = governance.split(cdp.get_object("settings") or {})
    general, per = split(rest)
    settings = cloud_settings(project, region, stack, general, destinations)
    hash_key = cdp.get_secret("piiHashKey")
    if hash_key is None:
        raise ConfigError(governance.NO_HASH_KEY)
    deletion = governance.deletion_keys(cdp.get_object("deletionKeys"))
    configured = destination_settings(per)
    # The shape (which secrets are given) decides which secrets are declared, so it is read
    # now; each value is wrapped as a Pulumi secret at once and goes nowhere but Secret Manager.
    given = destination_keys(cdp.get_object("destinationKeys"), destinations)
    shape = {name: tuple(values) for name, values in given.items()}
    for warning in check_destinations(settings, configured, shape):
        pulumi.log.warn(warning)
    keys = {
        name: {f: pulumi.Output.secret(value) for f, value in values.items()}
        for name, values in given.items()
    }
    return StackConfig(
        project=project,
        region=region,
        stack=stack,
        firestore_location=cdp.get("firestoreLocation") or region,
        settings=settings,
        sources_json=sources.apply(_validated_sources),
        destination_settings=configured,
        destination_keys=keys,
        protect_data=cdp.get_bool("protectData") is not False,
        analysts=analyst_members(cdp.get("analysts")),
        pii_hash_key=hash_key.apply(governance.checked_hash_key),
        governance=governance.group_settings(groups),
        deletion_keys={f: pulumi.Output.secret(v) for f, v in deletion.items()},
        alerts=read_alerts(cdp),
    )
