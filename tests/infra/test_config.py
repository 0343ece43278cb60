"""Stack config is validated before anything is declared, and what reaches the functions is
what the stack says, not what the deployer's shell happens to export."""

from __future__ import annotations

from typing import Any

import pytest

from infra.access import ACCESS
from infra.config import (
    SECRET_SETTINGS,
    check_destinations,
    cloud_settings,
    enabled_destinations,
    function_environment,
)
from infra.destinations import (
    NAMES,
    destination_keys,
    destination_settings,
    env_name,
    secret_fields,
    settings_class,
    split,
)
from infra.errors import ConfigError
from shared.destinations.framework import DestinationSettings
from shared.destinations.registry import settings_of
from shared.destinations.webhook import WebhookSettings
from shared.settings import Settings
from shared.topology import DESTINATIONS, TOPOLOGY

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
    with pytest.raises(ConfigError, match="cold_archive_expiration_days"):
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
    overrides = {
        "dataset_prefix": "acme",
        "consent_opt_in": ["advertising"],
        "destination_retry": {"attempts": 5, "minimum_backoff_seconds": 1},
        "webhook_url": URL,
        "webhook_event_types": ["track"],
        "meta_pixel_id": "1234567890",
        "appsflyer_app_id": {"ios": "123456789"},
        "slack_templates": {"Signed Up": "{userId} signed up"},
    }
    general, per = split(overrides)
    enabled = ("webhook", "meta", "appsflyer", "slack")
    settings = cloud_settings("p", "europe-west1", "prod", general, enabled)
    configured = destination_settings(per)
    env = function_environment(settings, configured)
    assert "CDP_SOURCES" not in env, "write keys come from Secret Manager only"
    assert "CDP_BIGQUERY_ENDPOINT" not in env, "the emulator endpoint is local-only"
    assert "CDP_FUNCTION" not in env, "set per function"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == settings.model_dump()
    assert Settings().destinations == list(enabled)
    for name, deployed in configured.items():
        assert settings_of(name).model_dump() == deployed.model_dump(), name


def test_only_enabled_destinations_settings_are_deployed() -> None:
    general, per = split({"webhook_url": URL, "meta_pixel_id": "123"})
    settings = cloud_settings("p", "r", "s", general, ("meta",))
    env = function_environment(settings, destination_settings(per))
    assert env["CDP_META_PIXEL_ID"] == "123"
    assert "CDP_WEBHOOK_URL" not in env


def test_the_deployers_shell_does_not_leak_into_destination_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_WEBHOOK_MAX_EVENTS", "3")
    monkeypatch.setenv("CDP_WEBHOOK_ENDPOINT", "http://127.0.0.1:9999")
    (webhook,) = destination_settings({"webhook": {"url": URL}}).values()
    assert isinstance(webhook, WebhookSettings)
    assert (webhook.max_events, webhook.endpoint) == (100, "")
    env = function_environment(
        cloud_settings("p", "r", "s", {}, ("webhook",)), {"webhook": webhook}
    )
    assert env["CDP_WEBHOOK_URL"] == URL
    assert "CDP_WEBHOOK_MAX_EVENTS" not in env, "unset fields keep the module's defaults"


def test_cdp_settings_splits_into_settings_and_destinations() -> None:
    general, per = split(
        {"dataset_prefix": "x", "ga4_measurement_id": "G-1", "webhook_url": URL, "meta_x": 1}
    )
    assert general == {"dataset_prefix": "x", "ga4_measurement_id": "G-1"}
    assert per == {"webhook": {"url": URL}, "meta": {"x": 1}}


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"webhook": {"nope": 1}}, r"unknown field\(s\) \['webhook_nope'\]"),
        ({"webhook": {"max_events": "many"}}, "destination 'webhook'"),
        ({"meta": {"pixel_id": {"a": 1}}}, None),  # an object for a text field is its JSON
    ],
)
def test_destination_settings_are_validated_by_their_class(
    values: dict[str, dict[str, Any]], match: str | None
) -> None:
    if match is None:
        assert destination_settings(values)
        return
    with pytest.raises(ConfigError, match=match):
        destination_settings(values)


def test_an_unknown_settings_key_is_still_refused() -> None:
    general, _ = split({"webhok_url": URL})
    with pytest.raises(ConfigError, match="unknown"):
        cloud_settings("p", "r", "s", general)


SECRET_DESTINATION_FIELDS = [(n, f) for n in DESTINATIONS for f in secret_fields(n)]


@pytest.mark.parametrize(("name", "field"), SECRET_DESTINATION_FIELDS)
def test_destination_secrets_are_refused_in_cdp_settings(name: str, field: str) -> None:
    _, per = split({f"{name}_{field}": "not-a-real-secret"})
    with pytest.raises(ConfigError, match=f"cdp:destinationKeys.{name}.{field}"):
        destination_settings(per)


def test_every_destination_has_secrets_and_reads_cdp_name_field() -> None:
    """The naming scheme infra relies on: CDP_<NAME>_<FIELD> is what each class reads."""
    for name in DESTINATIONS:
        cls: type[DestinationSettings] = settings_class(name)
        prefix = cls.model_config.get("env_prefix")
        assert prefix == f"CDP_{name.upper()}_", name
        assert secret_fields(name), f"{name} has no credential"
    assert secret_fields("ga4") == ("api_secret",)


def test_access_names_only_declared_topics_and_functions() -> None:
    topics = {t.name for t in TOPOLOGY.topics}
    assert set(ACCESS) == {f.name for f in TOPOLOGY.functions}
    for name, access in ACCESS.items():
        assert set(access.publishes) <= topics, name
        function = TOPOLOGY.function(name)
        assert access.destination_keys == function.destination, name
        assert set(access.reads_keys_of) <= set(NAMES) - {function.destination}, name


@pytest.mark.parametrize("name", sorted(SECRET_SETTINGS | {"destinations", "function"}))
def test_secret_and_program_settings_are_refused_in_cdp_settings(name: str) -> None:
    """The GA4 API secret, like every destination's key, comes from cdp:destinationKeys
    through Secret Manager: never as plain stack config. The enabled destinations come from
    cdp:destinations, the function's name from the program."""
    with pytest.raises(ConfigError, match="may not set"):
        cloud_settings("p", "r", "s", {name: "not-a-real-secret"})


def test_secret_settings_never_reach_the_plain_environment() -> None:
    settings = Settings(ga4_api_secret="api", destinations=["webhook"])
    webhook = WebhookSettings(secret="signer", url=URL)
    env = function_environment(settings, {"webhook": webhook})
    assert {"CDP_WEBHOOK_SECRET", "CDP_GA4_API_SECRET", "CDP_SOURCES"}.isdisjoint(env)
    assert "signer" not in env.values() and "api" not in env.values()
    assert env["CDP_WEBHOOK_URL"] == URL


def test_enabled_destinations_are_known_names() -> None:
    assert enabled_destinations(["webhook", "ga4", "webhook"]) == ("webhook", "ga4")
    assert enabled_destinations(None) == ()
    with pytest.raises(ConfigError, match="unknown name"):
        enabled_destinations(["segment"])
    with pytest.raises(ConfigError, match="a list of names"):
        enabled_destinations("webhook")
    assert set(NAMES) == {*DESTINATIONS, "ga4"}


KEYS = {"amplitude": {"api_key": "k"}, "webhook": {"secret": "s"}, "ga4": {"api_secret": "g"}}


def test_destination_keys_are_objects_of_secret_fields() -> None:
    assert destination_keys(KEYS, ("amplitude", "ga4")) == {
        "amplitude": {"api_key": "k"},
        "ga4": {"api_secret": "g"},
    }, "a destination not enabled deploys no secret"
    assert destination_keys(None, ("webhook",)) == {}


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"webhook": "the-old-shape"}, r"must be an object .*cdp:destinationKeys.webhook.secret"),
        ({"segment": {"key": "x"}}, "unknown destination 'segment'"),
        ({"amplitude": {"apikey": "x"}}, r"unknown field\(s\) \['apikey'\]"),
        ({"meta": {"pixel_id": "x"}}, "non-secret settings go in cdp:settings"),
        ({"meta": {"access_token": ""}}, "non-empty text"),
        ({"meta": {"access_token": 12345}}, "non-empty text"),
        (["webhook"], "must be an object"),
    ],
)
def test_destination_keys_of_another_shape_are_refused(keys: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as refused:
        destination_keys(keys, ("webhook", "amplitude", "meta"))
    assert "the-old-shape" not in str(refused.value), "a message never shows a value"
    assert "12345" not in str(refused.value)


def check(
    settings: dict[str, Any], enabled: tuple[str, ...], keys: dict[str, tuple[str, ...]]
) -> list[str]:
    general, per = split(settings)
    return check_destinations(
        cloud_settings("p", "r", "s", general, enabled), destination_settings(per), keys
    )


@pytest.mark.parametrize(
    ("settings", "destinations", "keys", "warnings"),
    [
        ({}, (), {}, 0),
        ({"webhook_url": URL}, (), {}, 0),  # not enabled: the settings are simply unused
        ({"webhook_url": URL, "webhook_backfill": True}, ("webhook",), {}, 0),  # unsigned
        ({"webhook_backfill": False}, (), {}, 0),
        ({}, ("webhook",), {}, 1),  # deployed, but sends nothing
        ({}, ("meta",), {"meta": ("access_token",)}, 1),  # no pixel id
        ({"meta_pixel_id": "1"}, ("meta",), {"meta": ("access_token",)}, 0),
        ({}, ("slack",), {"slack": ("webhook_url",)}, 1),  # no template: nothing to send
        ({}, ("firebase",), {"firebase": ("api_secret",)}, 1),  # no stream
        ({}, ("amplitude", "ga4"), {"amplitude": ("api_key",), "ga4": ("api_secret",)}, 0),
    ],
)
def test_destination_settings_that_deploy_something_idle_warn(
    settings: dict[str, Any],
    destinations: tuple[str, ...],
    keys: dict[str, tuple[str, ...]],
    warnings: int,
) -> None:
    found = check(settings, destinations, keys)
    assert len(found) == warnings, found
    assert all("sends nothing" in w and "cdp:settings." in w for w in found)


@pytest.mark.parametrize(
    ("name", "keys", "missing"),
    [
        ("amplitude", (), "amplitude.api_key"),
        ("amplitude", ("secret_key",), "amplitude.api_key"),
        ("intercom", (), "intercom.access_token"),
        ("meta", (), "meta.access_token"),
        ("appsflyer", (), "appsflyer.dev_key"),
        ("firebase", (), "firebase.api_secret"),
        ("slack", (), "slack.webhook_url"),
        ("ga4", (), "ga4.api_secret"),
    ],
)
def test_an_enabled_destination_without_a_key_it_needs_is_refused(
    name: str, keys: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(ConfigError, match=f"{name!r} is enabled but .* no {missing}"):
        check({}, (name,), {name: keys})


def test_back_fills_for_a_destination_not_enabled_are_refused() -> None:
    """The sweep would publish them to a topic nobody reads and record each id as done."""
    with pytest.raises(ConfigError, match="back-fills"):
        check(
            {"webhook_url": URL, "webhook_backfill": True}, ("slack",), {"slack": ("webhook_url",)}
        )


@pytest.mark.parametrize(
    "retry",
    [
        {"attempts": 4},
        {"attempts": 101},
        {"minimum_backoff_seconds": 700},
        {"maximum_backoff_seconds": 601},
        {"minimum_backoff_seconds": 60, "maximum_backoff_seconds": 30},
    ],
)
def test_a_retry_pubsub_would_refuse_fails_the_preview(retry: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="destination_retry"):
        cloud_settings("p", "r", "s", {"destination_retry": retry})
    short = {"attempts": 5, "minimum_backoff_seconds": 1, "maximum_backoff_seconds": 5}
    assert (
        cloud_settings("p", "r", "s", {"destination_retry": short}).destination_retry.attempts == 5
    )


def test_secret_variable_names_follow_the_scheme() -> None:
    assert env_name("slack", "webhook_url") == "CDP_SLACK_WEBHOOK_URL"
    assert env_name("ga4", "api_secret") == "CDP_GA4_API_SECRET"
