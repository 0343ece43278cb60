"""The destinations' part of the stack config, checked before anything is declared.

- ``cdp:settings`` keys ``<name>_<field>`` (``webhook_url``, ``meta_pixel_id``,
  ``slack_templates``) are the destination's non-secret settings, validated by its settings
  class (``registry.transform_class(name).settings_class``) from these values alone, never from
  the deployer's shell, and deployed as ``CDP_<NAME>_<FIELD>``. A secret field there is refused.
- ``cdp:destinationKeys`` is name → object of secret fields (``{"amplitude": {"api_key": ...}}``;
  the cold path's ``ga4`` has ``api_secret``). Only the shape is read here; each value stays a
  Pulumi secret and becomes one Secret Manager secret (``secret_key``).
- An enabled destination is refused when a secret its transform cannot work without is missing
  (its ``missing()`` names it, with placeholders for the secrets given); a missing non-secret
  setting only warns: the destination is deployed and sends nothing until it is set.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import cache
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from infra.errors import ConfigError
from shared.destinations.framework import DestinationSettings
from shared.destinations.registry import transform_class
from shared.ports.clock import SystemClock
from shared.settings import Settings
from shared.topology import DESTINATIONS

S = TypeVar("S", bound=BaseSettings)

GA4 = "ga4"  # the cold path's forwarder: its settings are Settings.ga4_*, not a registry entry
NAMES = (*DESTINATIONS, GA4)
PLACEHOLDER = "set-in-secret-manager"  # stands for a given secret when asking what is missing
USE_KEYS = "{key} is a secret: set it in cdp:destinationKeys.{name}.{field}, never in cdp:settings"
NOT_AN_OBJECT = (
    "cdp:destinationKeys.{name} must be an object of its secret settings ({fields}), e.g."
    " pulumi config set --secret --path 'cdp:destinationKeys.{name}.{first}' <value>"
)


def env_name(destination: str, field: str) -> str:
    """``CDP_<NAME>_<FIELD>``: what the destination's settings class reads."""
    return f"CDP_{destination.upper()}_{field.upper()}"


def secret_key(destination: str, field: str) -> str:
    """The Secrets component's key for one credential; its Secret Manager id is ``cdp-<key>``."""
    return f"{destination}-{field.replace('_', '-')}"


def settings_class(destination: str) -> type[DestinationSettings]:
    return transform_class(destination).settings_class


def secret_fields(destination: str) -> tuple[str, ...]:
    """The fields it declares secret (``Field(repr=False)``): from cdp:destinationKeys only."""
    if destination == GA4:
        ga4 = Settings.model_fields.items()
        return tuple(f[4:] for f, info in ga4 if f.startswith("ga4_") and info.repr is False)
    fields = settings_class(destination).model_fields.items()
    return tuple(f for f, info in fields if info.repr is False)


@cache
def from_config_only(cls: type[S]) -> type[S]:
    """``cls`` reading its init arguments only, never the deployer's shell (as
    ``CloudSettings`` does for ``Settings``)."""

    def sources(
        owner: type[BaseSettings],
        /,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    namespace = {"settings_customise_sources": classmethod(sources), "__module__": __name__}
    return cast(type[S], type(f"Cloud{cls.__name__}", (cls,), namespace))


def split_by_name(
    overrides: Mapping[str, Any], names: Collection[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``cdp:settings`` as (the rest, name → its fields): a key is a name's when it is no
    Settings field and is ``<name>_<field>``."""
    rest: dict[str, Any] = {}
    per: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        name, _, field = key.partition("_")
        if key in Settings.model_fields or name not in names or not field:
            rest[key] = value
        else:
            per.setdefault(name, {})[field] = value
    return rest, per


def refuse_unknown(name: str, cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
    """A ``cdp:settings`` key ``<name>_<field>`` whose field ``cls`` does not declare is a typo."""
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        keys = [f"{name}_{f}" for f in unknown]
        raise ConfigError(
            f"cdp:settings has unknown field(s) {keys}; see {cls.__module__}.{cls.__name__}"
        )


def split(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``cdp:settings`` as (Settings fields, destination → its fields). A key is a
    destination's when it is no Settings field and starts with a destination's name."""
    return split_by_name(overrides, DESTINATIONS)


def destination_settings(per: Mapping[str, Mapping[str, Any]]) -> dict[str, DestinationSettings]:
    """Each destination's settings from its ``cdp:settings`` keys, validated by its class."""
    found: dict[str, DestinationSettings] = {}
    for name, values in per.items():
        cls = settings_class(name)
        refuse_unknown(name, cls, values)
        secret = sorted(set(values) & set(secret_fields(name)))
        if secret:
            field = secret[0]
            raise ConfigError(USE_KEYS.format(key=f"{name}_{field}", name=name, field=field))
        fields = {f: _as_field_value(cls, f, v) for f, v in values.items()}
        try:
            found[name] = from_config_only(cls)(**fields)
        except ValidationError as error:
            raise ConfigError(f"cdp:settings for destination {name!r}: {error}") from None
    return found


def _as_field_value(cls: type[DestinationSettings], field: str, value: Any) -> Any:
    """An object or list for a text field is its JSON text, as the variable will carry it
    (AppsFlyer's and Firebase's ``app_id`` take one id or ``{"ios": ..., "android": ...}``)."""
    if cls.model_fields[field].annotation is str and isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def environment(settings: DestinationSettings, name: str) -> dict[str, Any]:
    """(variable → value) of the fields the stack set (and those its validators derived from
    them: Slack's filter from its templates); the others keep the module's defaults. Never a
    secret field, whatever the object holds."""
    given = settings.model_fields_set - set(secret_fields(name))
    values = settings.model_dump(mode="json", include=given)
    return {env_name(name, field): value for field, value in values.items()}


def destination_keys(raw: Any, enabled: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``cdp:destinationKeys``, its shape checked: enabled destination → secret field → value.
    Keys of a destination not enabled are checked too, but deploy nothing. No message names a
    value."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("cdp:destinationKeys must be an object: destination → its secrets")
    found: dict[str, dict[str, str]] = {}
    for name, given in raw.items():
        if name not in NAMES:
            raise ConfigError(f"cdp:destinationKeys names unknown destination {name!r}")
        fields = secret_fields(name)
        if not isinstance(given, Mapping):
            raise ConfigError(
                NOT_AN_OBJECT.format(name=name, fields=", ".join(fields), first=fields[0])
            )
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise ConfigError(
                f"cdp:destinationKeys.{name} has unknown field(s) {unknown}; its secrets are"
                f" {list(fields)} (non-secret settings go in cdp:settings as {name}_<field>)"
            )
        bad = sorted(f for f, value in given.items() if not isinstance(value, str) or not value)
        if bad:
            raise ConfigError(f"cdp:destinationKeys.{name} {bad}: each must be non-empty text")
        if name in enabled:
            found[name] = {f: given[f] for f in fields if f in given}
    return found


def missing(
    name: str, settings: DestinationSettings | None, keys: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """(secrets, other settings) that enabled destination ``name`` cannot work without, each
    as its variable's name: the transform's own ``missing()`` with placeholders for ``keys``."""
    if name == GA4:
        return ([] if "api_secret" in keys else [env_name(GA4, "api_secret")]), []
    base = settings if settings is not None else from_config_only(settings_class(name))()
    filled = base.model_copy(update=dict.fromkeys(keys, PLACEHOLDER))
    needed = transform_class(name)(filled, SystemClock()).missing()
    secret = {env_name(name, f) for f in secret_fields(name)}
    return [n for n in needed if n in secret], [n for n in needed if n not in secret]
