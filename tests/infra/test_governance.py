"""Governance in the deployed stack: who reads the PII-bearing layers, what the privacy function
may touch, where the hash key goes, and the stack config of the quality checks and the deletion
APIs (``infra/governance.py``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from infra import config, governance
from infra.config import function_environment
from infra.errors import ConfigError
from shared.settings import Settings
from shared.topology import INGEST, JOBS, PRIVACY, TOPOLOGY, WAREHOUSE_LOADER
from tests.infra.conftest import (
    ANALYSTS,
    HASH_KEY,
    STACK_CONFIG,
    Deployed,
    dataset_entries,
    deploy,
    function_account,
    iam_members,
    stack_config,
)
from tests.infra.mocks import (
    DATASET,
    DATASET_ACCESS,
    FUNCTION,
    JOB,
    RUN_INVOKER,
    SUBSCRIPTION_GRANT,
)

SETTINGS = Settings()
RAW, PROCESSED, CURATED, OPS, ANALYTICS = (
    SETTINGS.dataset(layer) for layer in ("raw", "processed", "curated", "ops", "analytics")
)


def test_only_the_pipelines_accounts_reach_raw_and_processed(deployed: Deployed) -> None:
    """Analysts and every other identity read the analytics views; the layers holding email,
    phone and names are written by the loader, the jobs and privacy, and read by nobody else;
    the curated views (the identity map, memberships) only by the jobs (audiences) and privacy."""
    entries = dataset_entries(deployed)
    for dataset in (RAW, PROCESSED):
        members = sorted(m for d, _, m in entries if d == dataset)
        pipeline = [function_account(f) for f in (WAREHOUSE_LOADER, JOBS, PRIVACY)]
        assert members == sorted(pipeline), dataset
    curated = sorted(m for d, _, m in entries if d == CURATED)
    assert curated == sorted(function_account(f) for f in (JOBS, PRIVACY))


def test_restricted_datasets_start_with_the_owners_only(deployed: Deployed) -> None:
    sets = {d["datasetId"]: d.get("accesses") for d in deployed.of_type(DATASET)}
    owners = [{"role": "OWNER", "specialGroup": "projectOwners"}]
    for dataset in (RAW, PROCESSED, CURATED, ANALYTICS):
        assert sets[dataset] == owners, dataset
    assert not sets[OPS], "ops keeps BigQuery's defaults"


def test_the_analysts_read_the_analytics_dataset_and_nothing_else(deployed: Deployed) -> None:
    analysts = [(d, role) for d, role, m in dataset_entries(deployed) if m == ANALYSTS]
    assert analysts == [(ANALYTICS, "READER")]
    project = [role for _, role, m in iam_members(deployed) if m == ANALYSTS]
    assert project == ["roles/bigquery.jobUser"]  # to run their queries, no data role


def test_without_analysts_nobody_reads_the_analytics_dataset(
    deployed: Deployed, tmp_path: Path
) -> None:
    values = {k: v for k, v in STACK_CONFIG.items() if k != "cdp:analysts"}
    stack = deploy(deployed.mocks, values, tmp_path)
    assert not [e for e in dataset_entries(stack) if e[0] == ANALYTICS]


def test_the_analytics_views_are_authorised_where_they_read(deployed: Deployed) -> None:
    views = {
        (d["view"]["datasetId"], d["view"]["tableId"], d["datasetId"])
        for d in deployed.of_type(DATASET_ACCESS)
        if "view" in d
    }
    assert (ANALYTICS, "users", CURATED) in views
    assert (CURATED, "identity_map", PROCESSED) in views
    assert not [v for v in views if v[2] == ANALYTICS], "nothing reads through the analysts'"


def test_the_privacy_functions_roles(deployed: Deployed) -> None:
    account = function_account(PRIVACY)
    entries = sorted((d, role) for d, role, m in dataset_entries(deployed) if m == account)
    assert entries == sorted(
        [(RAW, "WRITER"), (PROCESSED, "WRITER"), (OPS, "WRITER"), (CURATED, "READER")]
    )
    project = sorted(role for typ, role, m in iam_members(deployed) if m == account)
    dead_letters = sorted(name for name, _ in TOPOLOGY.dead_letter_subscriptions())
    assert project == sorted(
        ["roles/bigquery.jobUser", "roles/datastore.user"]
        + ["roles/pubsub.subscriber"] * len(dead_letters)
        + ["roles/secretmanager.secretAccessor"] * 6
    )
    pulled = sorted(
        d["subscription"] for d in deployed.of_type(SUBSCRIPTION_GRANT) if d["member"] == account
    )
    assert pulled == dead_letters, "every dead-letter subscription, and nothing else"
    others = {d["member"] for d in deployed.of_type(SUBSCRIPTION_GRANT)} - {account}
    assert not [m for m in others if m.startswith("serviceAccount:cdp-fn-")]


def test_the_privacy_function_is_private_and_resumed_by_its_schedule(deployed: Deployed) -> None:
    assert not TOPOLOGY.function(PRIVACY).public
    invokers = [i["member"] for i in deployed.of_type(RUN_INVOKER) if i["name"] == PRIVACY]
    assert len(invokers) == 1 and invokers[0].startswith("serviceAccount:cdp-scheduler@")
    jobs = {j["name"]: j for j in deployed.of_type(JOB)}
    assert jobs["privacy-requests"]["httpTarget"]["uri"].startswith(f"https://{PRIVACY}-")


def secret_environment(deployed: Deployed, name: str) -> dict[str, str]:
    (function,) = [f for f in deployed.of_type(FUNCTION) if f["name"] == name]
    variables = function["serviceConfig"].get("secretEnvironmentVariables", [])
    return {v["key"]: v["secret"] for v in variables}


def test_the_hash_key_reaches_ingest_jobs_and_privacy_from_secret_manager(
    deployed: Deployed,
) -> None:
    """The jobs too: audiences and SQL sources send their events through ingest's governance."""
    readers = [
        f.name
        for f in TOPOLOGY.functions
        if "CDP_PII_HASH_KEY" in secret_environment(deployed, f.name)
    ]
    assert sorted(readers) == sorted([INGEST, JOBS, PRIVACY])
    assert secret_environment(deployed, INGEST)["CDP_PII_HASH_KEY"].endswith("cdp-pii-hash-key")
    for function in deployed.of_type(FUNCTION):
        plain = function["serviceConfig"]["environmentVariables"]
        assert "CDP_PII_HASH_KEY" not in plain and HASH_KEY not in plain.values()


def test_the_quality_alerts_key_and_the_deletion_token(deployed: Deployed) -> None:
    assert "CDP_SLACK_WEBHOOK_URL" in secret_environment(deployed, JOBS)
    assert "CDP_DELETION_APPSFLYER_API_TOKEN" in secret_environment(deployed, PRIVACY)
    others = [
        f.name
        for f in TOPOLOGY.functions
        if f.name != PRIVACY
        and "CDP_DELETION_APPSFLYER_API_TOKEN" in secret_environment(deployed, f.name)
    ]
    assert others == []


def test_a_stack_without_a_hash_key_is_refused(deployed: Deployed) -> None:
    values = {k: v for k, v in STACK_CONFIG.items() if k != "cdp:piiHashKey"}
    with stack_config(values), pytest.raises(ConfigError, match="piiHashKey"):
        config.load()


@pytest.mark.parametrize("value", ["", "short", "a" * 31])
def test_a_short_hash_key_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="piiHashKey"):
        governance.checked_hash_key(value)


def test_quality_and_deletion_settings_are_validated_and_deployed() -> None:
    rest, groups = governance.split(
        {
            "quality_volume_min_ratio": 0.3,
            "quality_freshness_max_minutes_by_source": {"web": 30},
            "deletion_ga4_property_id": "123456",
            "webhook_url": "https://hooks.example.com",
            "cold_archive_expiration_days": 30,
        }
    )
    assert rest == {"webhook_url": "https://hooks.example.com", "cold_archive_expiration_days": 30}
    found = governance.group_settings(groups)
    env = function_environment(Settings(), {}, found)
    assert env["CDP_QUALITY_VOLUME_MIN_RATIO"] == "0.3"
    assert json.loads(env["CDP_QUALITY_FRESHNESS_MAX_MINUTES_BY_SOURCE"]) == {"web": 30}
    assert env["CDP_DELETION_GA4_PROPERTY_ID"] == "123456"
    assert "CDP_QUALITY_DRIFT_DAYS" not in env, "unset fields keep the class's defaults"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"quality_volume_min_ratio": -1}, "quality_"),
        ({"quality_freshness_minutes": 5}, "unknown"),
        ({"deletion_appsflyer_api_token": "t"}, "cdp:deletionKeys"),
        ({"deletion_google_access_token": "t"}, "secret"),
    ],
)
def test_bad_governance_settings_fail_the_preview(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        governance.group_settings(governance.split(overrides)[1])


def test_the_shell_does_not_leak_into_quality_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_QUALITY_DRIFT_DAYS", "3")
    found = governance.group_settings({"quality": {"volume_days": 2}})
    assert governance.environment(found) == {"CDP_QUALITY_VOLUME_DAYS": 2}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("token", "object"),
        ({"google_access_token": "t"}, "refused"),
        ({"appsflyer_api_token": ""}, "non-empty"),
    ],
)
def test_deletion_keys_of_another_shape_are_refused(raw: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        governance.deletion_keys(raw)


def test_deletion_keys_become_privacy_secrets() -> None:
    assert governance.deletion_keys({"appsflyer_api_token": "t"}) == {"appsflyer_api_token": "t"}
    assert governance.deletion_secrets() == (
        ("CDP_DELETION_APPSFLYER_API_TOKEN", "deletion-appsflyer-api-token"),
    )


def test_the_quality_checks_run_hourly_on_the_jobs_function(deployed: Deployed) -> None:
    jobs = {j["name"]: j for j in deployed.of_type(JOB)}
    quality = jobs["quality-checks"]
    minute, hour, *rest = quality["schedule"].split()
    assert minute.isdigit() and hour == "*" and rest == ["*", "*", "*"]
    assert quality["httpTarget"]["uri"].startswith(f"https://{JOBS}-")
    body = json.loads(base64.b64decode(quality["httpTarget"]["body"]))
    assert body == {"job": "quality-checks"}
