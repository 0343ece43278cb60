"""Stack config is validated before anything is declared, and what reaches the functions is
what the stack says, not what the deployer's shell happens to export."""

from __future__ import annotations

import pytest

from infra.access import ACCESS
from infra.config import ConfigError, cloud_settings, function_environment
from shared.settings import Settings
from shared.topology import TOPOLOGY


def test_settings_overrides_are_validated_by_the_settings_model() -> None:
    settings = cloud_settings("p", "europe-west1", "prod", {"cold_archive_expiration_days": 30})
    assert settings.cold_archive_expiration_days == 30
    assert (settings.project_id, settings.region, settings.environment) == (
        "p",
        "europe-west1",
        "prod",
    )
    with pytest.raises(ConfigError, match="unknown"):
        cloud_settings("p", "r", "s", {"cold_archive_days": 30})
    with pytest.raises(ConfigError, match="may not set"):
        cloud_settings("p", "r", "s", {"project_id": "other"})
    with pytest.raises(ConfigError, match="may not set"):
        cloud_settings("p", "r", "s", {"bigquery_endpoint": "http://localhost:9050"})
    with pytest.raises(ValueError):
        cloud_settings("p", "r", "s", {"cold_archive_expiration_days": "soon"})


def test_the_deployers_shell_does_not_leak_into_the_cloud(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_COLD_ARCHIVE_EXPIRATION_DAYS", "1")
    monkeypatch.setenv("CDP_BIGQUERY_ENDPOINT", "http://127.0.0.1:9050")
    settings = cloud_settings("p", "r", "s", {})
    assert (
        settings.cold_archive_expiration_days
        == Settings().model_fields["cold_archive_expiration_days"].default
    )
    assert settings.bigquery_endpoint is None


def test_function_environment_round_trips_through_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = cloud_settings("p", "europe-west1", "prod", {"dataset_prefix": "acme"})
    env = function_environment(settings)
    assert "CDP_SOURCES" not in env, "write keys come from Secret Manager only"
    assert "CDP_BIGQUERY_ENDPOINT" not in env, "the emulator endpoint is local-only"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == settings.model_dump()


def test_access_names_only_declared_topics_and_functions() -> None:
    topics = {t.name for t in TOPOLOGY.topics}
    assert set(ACCESS) == {f.name for f in TOPOLOGY.functions}
    for name, access in ACCESS.items():
        assert set(access.publishes) <= topics, name
