"""Merge rules come from settings: defaults that need no environment, overrides in JSON."""

from __future__ import annotations

import json

import pytest

from shared.identity.config import IdentityConfig
from shared.settings import Settings


def test_defaults_follow_the_issue() -> None:
    config = Settings().identity
    assert (config.limit("user_id"), config.limit("email"), config.limit("anonymous_id")) == (
        1,
        5,
        None,
    )
    assert config.priority[0] == "user_id" and config.rank("braze_id") == len(config.priority)
    assert config.is_blocked("user_id", "[object Object]") and config.is_blocked("email", "")


def test_a_deployment_overrides_them_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override = {
        "types": {"user_id": {"limit": 1, "blocked": ["guest"]}, "email": {"limit": 2}},
        "phone_region": "FR",
    }
    monkeypatch.setenv("CDP_IDENTITY", json.dumps(override))
    config = Settings().identity
    assert config.limit("email") == 2 and config.limit("phone") == 5  # not listed: default
    assert config.is_blocked("user_id", "Guest") and config.phone_region == "FR"


def test_custom_types_take_the_default_rule() -> None:
    config = IdentityConfig.model_validate({"default": {"limit": 3}})
    assert config.limit("braze_id") == 3
