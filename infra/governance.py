"""Governance's part of the stack config: the quality checks' thresholds, the deletion APIs'
settings and credentials, and the hash key, checked before anything is declared.

- ``cdp:settings`` keys ``quality_<field>`` (``quality_volume_min_ratio``) and
  ``deletion_<field>`` (``deletion_ga4_property_id``) are fields of
  ``shared.governance.quality.QualitySettings`` and ``shared.destinations.deletion
  .DeletionSettings``, validated by those classes from these values alone and deployed as
  ``CDP_QUALITY_<FIELD>`` / ``CDP_DELETION_<FIELD>``, as destinations' settings are.
- ``cdp:deletionKeys`` (secret): the deletion APIs' own credentials
  (``{"appsflyer_api_token": ...}``); each becomes one secret only the privacy function reads,
  as ``CDP_DELETION_<FIELD>``. Google's deletion API takes the function's own token from the
  metadata server, so ``google_access_token`` (an hour-long token) is refused there.
- ``cdp:piiHashKey`` (secret, required): ``CDP_PII_HASH_KEY``, the key of the PII policy
  ``hash`` and of the suppression list's keyed hashes. Without it ``hash`` would only redact and
  suppressed identifiers would be hashed with no secret, so a stack without one is refused; it
  must stay the same for the life of the stack (a new key forgets every suppression).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from infra.destinations import from_config_only, refuse_unknown, split_by_name
from infra.errors import ConfigError
from shared.destinations.deletion import DeletionSettings
from shared.governance.quality import QualitySettings

QUALITY, DELETION = "quality", "deletion"
CLASSES: dict[str, type[BaseSettings]] = {QUALITY: QualitySettings, DELETION: DeletionSettings}
NOT_IN_CLOUD = frozenset({"google_access_token"})  # the metadata server's token is used instead
MIN_HASH_KEY = 32  # characters: 128 bits as hex at least
NO_HASH_KEY = (
    "cdp:piiHashKey is not set: the PII policy 'hash' and the suppression list need a secret"
    " key that never changes (pulumi config set --secret cdp:piiHashKey $(openssl rand -hex 32))"
)
SHORT_HASH_KEY = f"cdp:piiHashKey must be at least {MIN_HASH_KEY} characters (openssl rand -hex 32)"
USE_KEYS = "deletion_{field} is a secret: set it in cdp:deletionKeys.{field}, never in cdp:settings"


def secret_fields(group: str) -> tuple[str, ...]:
    """The fields a group declares secret (``Field(repr=False)``)."""
    return tuple(f for f, info in CLASSES[group].model_fields.items() if info.repr is False)


def deletion_secrets() -> tuple[tuple[str, str], ...]:
    """(env var, secret key) of each credential ``cdp:deletionKeys`` may give."""
    fields = [f for f in secret_fields(DELETION) if f not in NOT_IN_CLOUD]
    return tuple((env_name(DELETION, f), secret_key(f)) for f in fields)


def env_name(group: str, field: str) -> str:
    return f"CDP_{group.upper()}_{field.upper()}"


def secret_key(field: str) -> str:
    """The Secrets component's key of a deletion credential (``deletion-appsflyer-api-token``)."""
    return f"{DELETION}-{field.replace('_', '-')}"


def split(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``cdp:settings`` as (the rest, group → its fields): a key is a group's when it is no
    Settings field and starts with ``quality_`` or ``deletion_``."""
    return split_by_name(overrides, CLASSES)


def group_settings(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseSettings]:
    """Each group's settings, validated by its class."""
    found: dict[str, BaseSettings] = {}
    for group, values in groups.items():
        cls = CLASSES[group]
        refuse_unknown(group, cls, values)
        secret = sorted(set(values) & set(secret_fields(group)))
        if secret:
            raise ConfigError(USE_KEYS.format(field=secret[0]))
        try:
            found[group] = from_config_only(cls)(**values)
        except ValidationError as error:
            raise ConfigError(f"cdp:settings for {group}_*: {error}") from None
    return found


def environment(found: Mapping[str, BaseSettings]) -> dict[str, Any]:
    """(variable → value) of the fields the stack set; the others keep the classes' defaults."""
    variables: dict[str, Any] = {}
    for group, settings in found.items():
        values = settings.model_dump(mode="json", include=settings.model_fields_set)
        variables.update({env_name(group, f): v for f, v in values.items()})
    return variables


def deletion_keys(raw: Any) -> dict[str, str]:
    """``cdp:deletionKeys``, its shape checked: secret field → value (no message names one)."""
    if raw is None:
        return {}
    allowed = [f for f in secret_fields(DELETION) if f not in NOT_IN_CLOUD]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"cdp:deletionKeys must be an object of {allowed}")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(
            f"cdp:deletionKeys has unknown or refused field(s) {unknown}; it takes {allowed}"
            " (Google's deletion API uses the privacy function's own account)"
        )
    bad = sorted(f for f, value in raw.items() if not isinstance(value, str) or not value)
    if bad:
        raise ConfigError(f"cdp:deletionKeys {bad}: each must be non-empty text")
    return {str(f): str(v) for f, v in raw.items()}


def checked_hash_key(value: str | None) -> str:
    """The hash key, refused when missing or short (run inside ``apply``: it is a secret)."""
    if not value:
        raise ConfigError(NO_HASH_KEY)
    if len(value) < MIN_HASH_KEY:
        raise ConfigError(SHORT_HASH_KEY)
    return value
