"""Stack config is validated before anything is declared, and what reaches the functions is
what the stack says, not what the deployer's shell happens to export."""

from __future__ import annotations

import pytest

from infra.access import ACCESS
from infra.config import (
    SECRET_SETTINGS,
    ConfigError,
    check_destinations,
    cloud_settings,
    function_environment,
)
from shared.settings import Settings
from shared.topology import TOPOLOGY

URL = "https://hooks.example.com/cdp"


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


@pytest.mark.parametrize("name", sorted(SECRET_SETTINGS))
def test_secret_settings_are_refused_in_cdp_settings(name: str) -> None:
    """The webhook's signing secret, like the GA4 API secret, comes from cdp:destinationKeys
    through Secret Manager: never as plain stack config."""
    with pytest.raises(ConfigError, match="may not set"):
        cloud_settings("p", "r", "s", {name: "not-a-real-secret"})


def test_secret_settings_never_reach_the_plain_environment() -> None:
    settings = Settings(webhook_secret="signer", ga4_api_secret="api", webhook_url=URL)
    env = function_environment(settings)
    assert {"CDP_WEBHOOK_SECRET", "CDP_GA4_API_SECRET", "CDP_SOURCES"}.isdisjoint(env)
    assert "signer" not in env.values() and "api" not in env.values()
    assert env["CDP_WEBHOOK_URL"] == URL


def test_each_secret_a_function_reads_is_a_secret_setting() -> None:
    """What Secret Manager fills in is exactly what function_environment leaves out."""
    secret_vars = {env for access in ACCESS.values() for env, _ in access.secrets}
    assert secret_vars == {f"CDP_{name.upper()}" for name in SECRET_SETTINGS}


@pytest.mark.parametrize(
    ("settings", "destinations", "warnings"),
    [
        ({}, (), 0),
        ({"webhook_url": URL}, (), 0),  # not enabled: the settings are simply unused
        ({"webhook_url": URL, "webhook_backfill": True}, ("webhook",), 0),
        ({"webhook_backfill": True}, (), 0),  # no URL: back-fills are not opted into
        ({}, ("webhook",), 1),  # deployed, but sends nothing
    ],
)
def test_destination_settings_that_deploy_something_idle_warn(
    settings: dict[str, object], destinations: tuple[str, ...], warnings: int
) -> None:
    found = check_destinations(cloud_settings("p", "r", "s", settings), destinations)
    assert len(found) == warnings


def test_back_fills_for_a_destination_not_enabled_are_refused() -> None:
    """The sweep would publish them to a topic nobody reads and record each id as done."""
    settings = cloud_settings("p", "r", "s", {"webhook_url": URL, "webhook_backfill": True})
    with pytest.raises(ConfigError, match="back-fills"):
        check_destinations(settings, ("slack",))
