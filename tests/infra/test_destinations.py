"""Destinations as deployed: each reads only its own keys, may report, keep its ledger and
publish failures, knows the enabled destinations and its settings, and retries as
``cdp:settings.destination_retry`` says (hours by default). A destination missing a key it
cannot work without is refused while the config is read."""

from __future__ import annotations

import json

import pytest

from infra import config
from infra.access import SECRET_ACCESSOR
from infra.components.secrets import secret_id
from infra.destinations import env_name, secret_key
from infra.errors import ConfigError
from shared.settings import Settings
from shared.topology import (
    DESTINATION_ATTEMPTS,
    DESTINATION_WEBHOOK,
    DESTINATIONS,
    FAILED_EVENTS,
    GA4_FORWARDER,
    IDENTITY,
    INGEST,
    JOBS,
    PRIVACY,
    PROFILED_EVENTS,
    TOPOLOGY,
    WAREHOUSE_LOADER,
    RetryPolicy,
)
from shared.warehouse.tables import OPS
from tests.infra.conftest import (
    DELETION_KEYS,
    HASH_KEY,
    KEYS,
    SHORT_RETRY,
    STACK_CONFIG,
    WEBHOOK_URL,
    Deployed,
    dataset_entries,
    function_account,
    iam_members,
    secrets_read,
    stack_config,
)
from tests.infra.mocks import (
    FUNCTION,
    PROJECT,
    PROJECT_GRANT,
    SECRET,
    SECRET_GRANT,
    SUBSCRIPTION,
    TOPIC_GRANT,
)


def test_secrets_reach_only_their_function_pinned_to_a_version(deployed: Deployed) -> None:
    """Only ingest and the jobs (the sources' kinds, for sessions) read the hashed write keys;
    ingest, the jobs (whose audiences and SQL sources pass
    ingest's suppression list and PII policy) and privacy the hash key; each destination only
    its own keys, and besides them only the jobs (Slack's webhook, for the quality alerts) and
    privacy (the keys of the deletion APIs). None is ever a plain environment variable."""
    functions = {f["name"]: f for f in deployed.of_type(FUNCTION)}
    by_function = {spec.name: secrets_read(spec.name) for spec in TOPOLOGY.functions}
    assert by_function[INGEST] == [
        ("CDP_SOURCES", "cdp-sources"),
        ("CDP_PII_HASH_KEY", "cdp-pii-hash-key"),
    ]
    assert by_function[JOBS] == [
        ("CDP_SOURCES", "cdp-sources"),
        ("CDP_PII_HASH_KEY", "cdp-pii-hash-key"),
        ("CDP_SLACK_WEBHOOK_URL", "cdp-slack-webhook-url"),
    ]
    assert by_function[PRIVACY] == [
        ("CDP_PII_HASH_KEY", "cdp-pii-hash-key"),
        ("CDP_DELETION_APPSFLYER_API_TOKEN", "cdp-deletion-appsflyer-api-token"),
        ("CDP_AMPLITUDE_API_KEY", "cdp-amplitude-api-key"),
        ("CDP_AMPLITUDE_SECRET_KEY", "cdp-amplitude-secret-key"),
        ("CDP_INTERCOM_ACCESS_TOKEN", "cdp-intercom-access-token"),
        ("CDP_GA4_API_SECRET", "cdp-ga4-api-secret"),
    ]
    for name in (IDENTITY, WAREHOUSE_LOADER):
        assert by_function[name] == [], name
    assert by_function[GA4_FORWARDER] == [("CDP_GA4_API_SECRET", "cdp-ga4-api-secret")]
    assert by_function[DESTINATION_WEBHOOK] == [("CDP_WEBHOOK_SECRET", "cdp-webhook-secret")]
    assert by_function["destination-amplitude"] == [
        ("CDP_AMPLITUDE_API_KEY", "cdp-amplitude-api-key"),
        ("CDP_AMPLITUDE_SECRET_KEY", "cdp-amplitude-secret-key"),
    ]
    assert by_function["destination-slack"] == [("CDP_SLACK_WEBHOOK_URL", "cdp-slack-webhook-url")]
    secret_vars = {env for found in by_function.values() for env, _ in found}
    expected_vars = {env_name(n, f) for n, fields in KEYS.items() for f in fields}
    governance = {"CDP_SOURCES", "CDP_PII_HASH_KEY", "CDP_DELETION_APPSFLYER_API_TOKEN"}
    assert secret_vars == governance | expected_vars
    for spec in TOPOLOGY.functions:
        service = functions[spec.name]["serviceConfig"]
        secret_env = service.get("secretEnvironmentVariables", [])
        assert not secret_vars & set(service["environmentVariables"]), spec.name
        expected = [(env, secret, "1") for env, secret in by_function[spec.name]]
        assert [(e["key"], e["secret"], e["version"]) for e in secret_env] == expected


def test_no_secret_value_is_in_a_plain_environment(deployed: Deployed) -> None:
    values = {v for fields in KEYS.values() for v in fields.values()}
    values |= {HASH_KEY, *DELETION_KEYS.values()}
    for function in deployed.of_type(FUNCTION):
        plain = function["serviceConfig"]["environmentVariables"].values()
        assert not values & set(plain), function["name"]


def test_one_secret_per_destination_key(deployed: Deployed) -> None:
    stored = sorted(s["secretId"] for s in deployed.of_type(SECRET))
    expected = [secret_id(secret_key(n, f)) for n, fields in KEYS.items() for f in fields]
    governance = ["cdp-sources", "cdp-pii-hash-key", "cdp-deletion-appsflyer-api-token"]
    assert stored == sorted([*governance, *expected])


def test_each_function_reads_only_its_own_secrets(deployed: Deployed) -> None:
    """The grants, not just the environment: no identity may read a secret it is not given."""
    readers = {d["member"] for d in deployed.of_type(SECRET_GRANT)}
    assert readers <= {function_account(f.name) for f in TOPOLOGY.functions}
    for spec in TOPOLOGY.functions:
        grants = [
            d for d in deployed.of_type(SECRET_GRANT) if d["member"] == function_account(spec.name)
        ]
        read = sorted(d["secretId"] for d in grants)
        expected = sorted(f"projects/{PROJECT}/secrets/{s}" for _, s in secrets_read(spec.name))
        assert read == expected, spec.name
        assert all(d["role"] == SECRET_ACCESSOR for d in grants)


@pytest.mark.parametrize("name", DESTINATIONS)
def test_a_destination_may_report_keep_its_ledger_and_publish_only_failures(
    deployed: Deployed, name: str
) -> None:
    account = function_account(f"destination-{name}")
    grants = [(typ, role) for typ, role, member in iam_members(deployed) if member == account]
    assert sorted(grants) == sorted(
        [
            (TOPIC_GRANT, "roles/pubsub.publisher"),
            (PROJECT_GRANT, "roles/datastore.user"),
        ]
        + [(SECRET_GRANT, SECRET_ACCESSOR)] * len(KEYS[name])
    )
    (topic,) = [d["topic"] for d in deployed.of_type(TOPIC_GRANT) if d["member"] == account]
    assert topic == FAILED_EVENTS
    entries = [(d, role) for d, role, member in dataset_entries(deployed) if member == account]
    assert entries == [(Settings().dataset(OPS), "WRITER")]


def test_identity_publishes_profiled_events_for_the_destinations(deployed: Deployed) -> None:
    account = function_account(IDENTITY)
    topics = [d["topic"] for d in deployed.of_type(TOPIC_GRANT) if d["member"] == account]
    assert PROFILED_EVENTS in topics
    publishers = [
        d["member"] for d in deployed.of_type(TOPIC_GRANT) if d["topic"] == PROFILED_EVENTS
    ]
    assert publishers == [account], "only identity publishes profiled events"


def test_an_enabled_destination_without_a_key_fails_the_deployment(deployed: Deployed) -> None:
    """Refused while reading the config, before anything is declared."""
    keys = {**KEYS, "amplitude": {"secret_key": "not-a-real-secret"}}
    values = {**STACK_CONFIG, "cdp:destinationKeys": json.dumps(keys)}
    with stack_config(values), pytest.raises(ConfigError) as refused:
        config.load()
    assert str(refused.value).startswith(
        "destination 'amplitude' is enabled but cdp:destinationKeys has no amplitude.api_key"
    )


def test_an_unsigned_webhook_and_amplitude_without_its_deletion_key_deploy(
    deployed: Deployed,
) -> None:
    """Optional secrets: the webhook's signing secret, Amplitude's deletion API key."""
    keys = {**KEYS, "amplitude": {"api_key": "not-a-real-key"}}
    del keys["webhook"]
    values = {**STACK_CONFIG, "cdp:destinationKeys": json.dumps(keys)}
    with stack_config(values):
        loaded = config.load()
    assert "webhook" not in loaded.destination_keys
    assert set(loaded.destination_keys["amplitude"]) == {"api_key"}


def test_the_functions_know_the_enabled_destinations_and_their_settings(
    deployed: Deployed,
) -> None:
    """Identity feeds profiled events only when a destination is enabled, the sweep back-fills
    the opted-in ones, and each destination reads its CDP_<NAME>_* settings."""
    enabled = json.loads(STACK_CONFIG["cdp:destinations"])
    for function in deployed.of_type(FUNCTION):
        env = function["serviceConfig"]["environmentVariables"]
        assert json.loads(env["CDP_DESTINATIONS"]) == enabled
        assert env["CDP_FUNCTION"] == function["name"]
        assert env["CDP_WEBHOOK_URL"] == WEBHOOK_URL
        assert env["CDP_WEBHOOK_BACKFILL"] == "true"
        assert env["CDP_META_PIXEL_ID"] == "1234567890"
        assert json.loads(env["CDP_APPSFLYER_APP_ID"]) == {
            "ios": "123456789",
            "android": "com.example.app",
        }
        assert json.loads(env["CDP_SLACK_TEMPLATES"]) == {
            "Account Created": "New account: {userId}"
        }
        assert json.loads(env["CDP_AMPLITUDE_EVENT_TYPES"]) == ["track", "identify"]


def test_destinations_retry_for_hours_by_default(deployed: Deployed) -> None:
    subscriptions = {s["name"]: s for s in deployed.of_type(SUBSCRIPTION)}
    for name in DESTINATIONS:
        for sub in TOPOLOGY.destination_subscriptions(name):
            got = subscriptions[sub.name]
            assert got["deadLetterPolicy"]["maxDeliveryAttempts"] == DESTINATION_ATTEMPTS
            assert got["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}


def test_a_shorter_destination_retry_applies_to_destinations_only(
    deployed: Deployed, retrying_briefly: Deployed
) -> None:
    short = {s["name"]: s for s in retrying_briefly.of_type(SUBSCRIPTION)}
    default = {s["name"]: s for s in deployed.of_type(SUBSCRIPTION)}
    assert set(short) == set(default)
    mine = {s.name for name in DESTINATIONS for s in TOPOLOGY.destination_subscriptions(name)}
    assert mine and len(mine) == 2 * len(DESTINATIONS)
    policy = RetryPolicy(
        SHORT_RETRY["minimum_backoff_seconds"], SHORT_RETRY["maximum_backoff_seconds"]
    )
    for name, got in short.items():
        if name in mine:
            assert got["deadLetterPolicy"]["maxDeliveryAttempts"] == SHORT_RETRY["attempts"]
            assert got["retryPolicy"] == {
                "minimumBackoff": f"{policy.minimum_backoff_seconds}s",
                "maximumBackoff": f"{policy.maximum_backoff_seconds}s",
            }
        else:  # identity, the loader, GA4's cold path and the dead-letter pulls keep theirs
            assert got.get("deadLetterPolicy") == default[name].get("deadLetterPolicy"), name
            assert got.get("retryPolicy") == default[name].get("retryPolicy"), name
