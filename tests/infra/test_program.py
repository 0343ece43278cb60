"""The deployed shape equals the declared one: the topology, the warehouse tables, least
privilege. Everything here reads the inputs the program would send to Google.

``deployed`` enables every destination of the topology, so it deploys all of ``TOPOLOGY``;
``without_destinations`` enables none, and deploys ``TOPOLOGY.with_destinations(())``.
What is particular to destinations (their keys, grants, settings, retry) is in
``test_destinations.py``.
"""

from __future__ import annotations

import base64
import json
import runpy
import sys
from pathlib import Path

import pulumi
import pytest

from infra import config, program
from infra.access import ACCESS, BROAD_ROLES
from infra.components.datastores import Datastores, DatastoresArgs, TtlPolicy
from infra.components.function import account_id
from infra.errors import ConfigError
from shared.audiences.profiles import FINGERPRINTS
from shared.settings import Settings
from shared.topology import (
    BACKFILLS,
    COLD_EVENTS,
    DESTINATION_WEBHOOK,
    DESTINATIONS,
    EVENTS,
    FAILED_EVENTS,
    GA4_FORWARDER,
    JOBS,
    PROFILED_EVENTS,
    TOPOLOGY,
    Topology,
    Trigger,
)
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, datasets
from tests.infra.conftest import (
    KEYS,
    STACK_CONFIG,
    Deployed,
    dataset_entries,
    function_account,
    iam_members,
    secrets_read,
    stack_config,
)
from tests.infra.mocks import (
    ACCOUNT,
    FIRESTORE_FIELD,
    FUNCTION,
    JOB,
    PROJECT,
    PROJECT_NUMBER,
    RUN_INVOKER,
    SECRET,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    TOPIC_GRANT,
    Declared,
    run,
)

PUBSUB_AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
DAY_MS = 86_400_000
WITHOUT = TOPOLOGY.with_destinations(())  # what a stack enabling no destination deploys


def test_the_full_stack_enables_every_destination_of_the_topology() -> None:
    """So that ``deployed`` is all of TOPOLOGY, as the tests below take it to be."""
    enabled = json.loads(STACK_CONFIG["cdp:destinations"])
    assert TOPOLOGY.destinations() and set(TOPOLOGY.destinations()) <= set(enabled)
    assert TOPOLOGY.with_destinations(enabled) == TOPOLOGY


def test_every_topic_of_the_topology_and_nothing_else(deployed: Deployed) -> None:
    declared = sorted(t["name"] for t in deployed.of_type(TOPIC))
    assert declared == sorted(TOPOLOGY.all_topic_names())


def test_every_subscription_of_the_topology_and_nothing_else(deployed: Deployed) -> None:
    declared = {s["name"]: s for s in deployed.of_type(SUBSCRIPTION)}
    pushed = {s.name for s in TOPOLOGY.subscriptions}
    pulled = {name for name, _ in TOPOLOGY.dead_letter_subscriptions()}
    assert set(declared) == pushed | pulled
    for name in pulled:
        assert "pushConfig" not in declared[name], "operators pull dead letters"


def test_each_subscription_pushes_to_its_function_with_oidc_and_dead_letters(
    deployed: Deployed,
) -> None:
    declared = {s["name"]: s for s in deployed.of_type(SUBSCRIPTION)}
    for sub in TOPOLOGY.subscriptions:
        got = declared[sub.name]
        assert got["topic"] == f"projects/{PROJECT}/topics/{sub.topic}"
        uri = f"https://{sub.function}-abc123-ew.a.run.app"
        assert got["pushConfig"]["pushEndpoint"] == uri
        token = got["pushConfig"]["oidcToken"]
        assert token["audience"] == uri
        assert token["serviceAccountEmail"].startswith("cdp-pubsub-pusher@")
        assert got["deadLetterPolicy"] == {
            "deadLetterTopic": f"projects/{PROJECT}/topics/{sub.dead_letter_topic}",
            "maxDeliveryAttempts": sub.max_delivery_attempts,
        }
        assert got["retryPolicy"] == {
            "minimumBackoff": f"{sub.retry.minimum_backoff_seconds}s",
            "maximumBackoff": f"{sub.retry.maximum_backoff_seconds}s",
        }
        assert got["ackDeadlineSeconds"] == sub.ack_deadline_seconds
        retention = next(t.retention_hours for t in TOPOLOGY.topics if t.name == sub.topic)
        assert got["messageRetentionDuration"] == f"{retention * 3600}s"
        assert got["expirationPolicy"] == {"ttl": ""}, "an idle subscription must not expire"


def test_the_pubsub_agent_may_dead_letter_each_subscription(deployed: Deployed) -> None:
    grants = [
        (d.get("topic"), d.get("subscription"), d["role"])
        for d in deployed.program
        if d.custom and d.get("member") == PUBSUB_AGENT
    ]
    for sub in TOPOLOGY.subscriptions:
        assert (sub.dead_letter_topic, None, "roles/pubsub.publisher") in grants
        assert (None, sub.name, "roles/pubsub.subscriber") in grants


def test_every_function_is_gen2_python311_with_its_own_service_account(
    deployed: Deployed,
) -> None:
    functions = {f["name"]: f for f in deployed.of_type(FUNCTION)}
    assert set(functions) == {f.name for f in TOPOLOGY.functions}
    accounts = {a["accountId"] for a in deployed.of_type(ACCOUNT)}
    emails = []
    for spec in TOPOLOGY.functions:
        got = functions[spec.name]
        assert got["buildConfig"]["runtime"] == "python311"
        assert got["buildConfig"]["entryPoint"] == spec.entry_point
        assert got["buildConfig"]["serviceAccount"].split("/")[-1].startswith("cdp-builder@")
        service = got["serviceConfig"]
        assert account_id(spec) in accounts
        assert service["serviceAccountEmail"] == function_account(spec.name).split(":", 1)[1]
        assert service["environmentVariables"]["FUNCTION_SIGNATURE_TYPE"] == spec.signature_type
        assert service["maxInstanceCount"] == spec.max_instances
        assert service["timeoutSeconds"] == spec.timeout_seconds
        emails.append(service["serviceAccountEmail"])
    assert len(set(emails)) == len(emails), "no two functions share an identity"


def test_function_sources_are_named_by_content_hash(deployed: Deployed) -> None:
    functions = {f["name"]: f for f in deployed.of_type(FUNCTION)}
    for spec in TOPOLOGY.functions:
        source = functions[spec.name]["buildConfig"]["source"]["storageSource"]
        built = list(deployed.build_dir.glob(f"{spec.folder}-*.zip"))
        assert len(built) == 1
        # One object per function, even where functions share a source folder.
        assert source["object"] == f"functions/{spec.name}/{built[0].name}"


def test_no_identity_gets_a_broad_role(deployed: Deployed) -> None:
    grants = iam_members(deployed)
    assert grants
    assert not [g for g in grants if g[1] in BROAD_ROLES]


def test_each_function_holds_exactly_the_roles_access_lists(deployed: Deployed) -> None:
    grants = iam_members(deployed)
    entries = dataset_entries(deployed)
    dead_letters = len(TOPOLOGY.dead_letter_subscriptions())
    for name, access in ACCESS.items():
        held = sorted(role for _, role, member in grants if member == function_account(name))
        expected = sorted(
            ["roles/pubsub.publisher"] * len(access.publishes)
            + ["roles/pubsub.subscriber"] * (dead_letters * access.pulls_dead_letters)
            + ["roles/bigquery.jobUser"] * access.runs_queries
            + ["roles/datastore.user"] * access.uses_firestore
            + ["roles/secretmanager.secretAccessor"] * len(secrets_read(name))
        )
        assert held == expected, name
        datasets_held = sorted((d, r) for d, r, m in entries if m == function_account(name))
        assert datasets_held == sorted(
            [(Settings().dataset(layer), "WRITER") for layer in access.writes_layers]
            + [(Settings().dataset(layer), "READER") for layer in access.reads_layers]
        ), name
    assert set(ACCESS) == {f.name for f in TOPOLOGY.functions}


def test_no_dataset_iam_resource_drops_the_authorised_views(deployed: Deployed) -> None:
    """Every dataset grant is an access entry: the dataset IAM resources would rewrite the
    access list without the authorised views."""
    assert not [d for d in deployed.program if d.typ.startswith("gcp:bigquery/datasetIam")]
    assert dataset_entries(deployed)


def test_only_the_tracking_endpoint_is_public(deployed: Deployed) -> None:
    invokers = deployed.of_type(RUN_INVOKER)
    public = [i["name"] for i in invokers if i["member"] in ("allUsers", "allAuthenticatedUsers")]
    assert public == [f.name for f in TOPOLOGY.functions if f.public]
    private = {f.name for f in TOPOLOGY.functions if not f.public}
    callers = {i["name"]: i["member"] for i in invokers if i["name"] in private}
    assert set(callers) == private, "every private function is invoked by someone"
    assert all(i["role"] == "roles/run.invoker" for i in invokers)


def test_schedules_call_http_functions_with_oidc(deployed: Deployed) -> None:
    jobs = {j["name"]: j for j in deployed.of_type(JOB)}
    assert set(jobs) == {s.name for s in TOPOLOGY.schedules}
    for schedule in TOPOLOGY.schedules:
        assert TOPOLOGY.function(schedule.function).trigger is Trigger.HTTP
        got = jobs[schedule.name]
        assert got["schedule"] == schedule.cron
        assert got["timeZone"] == schedule.time_zone
        target = got["httpTarget"]
        assert target["httpMethod"] == "POST"
        assert json.loads(base64.b64decode(target["body"])) == {"job": schedule.name}
        assert target["oidcToken"]["serviceAccountEmail"].startswith("cdp-scheduler@")
        assert target["oidcToken"]["audience"] == target["uri"]


def stored_tables(deployed: Deployed) -> list[Declared]:
    return [t for t in deployed.of_type(TABLE) if "view" not in t]


def test_tables_are_partitioned_and_clustered_as_declared(deployed: Deployed) -> None:
    tables = {(t["datasetId"], t["tableId"]): t for t in stored_tables(deployed)}
    settings = Settings(cold_archive_expiration_days=45)
    expected = [(d.name, t) for d in datasets(settings) for t in d.tables]
    assert set(tables) == {(d, t.name) for d, t in expected}
    for dataset, table in expected:
        got = tables[(dataset, table.name)]
        assert got["timePartitioning"]["type"] == "DAY"
        assert got["timePartitioning"]["field"] == table.partition_field
        assert got["clusterings"] == list(table.clustering)
        assert [c["name"] for c in json.loads(got["schema"])] == [c.name for c in table.columns]


def test_the_cold_archive_expires_as_configured(deployed: Deployed) -> None:
    (archive,) = [t for t in stored_tables(deployed) if t["tableId"] == COLD_ARCHIVE_TABLE]
    assert archive["timePartitioning"]["expirationMs"] == 45 * DAY_MS
    others = [t for t in stored_tables(deployed) if t["tableId"] != COLD_ARCHIVE_TABLE]
    assert all("expirationMs" not in t["timePartitioning"] for t in others)


def test_every_declared_view_is_deployed_with_standard_sql(deployed: Deployed) -> None:
    views = {(t["datasetId"], t["tableId"]): t for t in deployed.of_type(TABLE) if "view" in t}
    settings = Settings(project_id=PROJECT, cold_archive_expiration_days=45)
    expected = {(d.name, v.name): v for d in datasets(settings) for v in d.views}
    assert set(views) == set(expected) and expected
    for key, view in expected.items():
        assert views[key]["view"] == {"query": view.query, "useLegacySql": False}
        assert "timePartitioning" not in views[key]


def test_outputs_name_the_ingest_url_and_an_honest_dashboard(deployed: Deployed) -> None:
    outputs = deployed.outputs
    assert outputs["ingest_url"].endswith("/ingest")
    assert outputs["dashboard_url"].startswith("https://console.cloud.google.com/bigquery")
    assert "No dashboard" in outputs["dashboard_note"]


def test_each_function_publishes_only_to_its_topics(deployed: Deployed) -> None:
    for name, access in ACCESS.items():
        topics = sorted(
            d["topic"]
            for d in deployed.of_type(TOPIC_GRANT)
            if d["member"] == function_account(name)
        )
        assert topics == sorted(access.publishes), name


def test_firestore_ttl_policies_become_ttl_fields(deployed: Deployed) -> None:
    def declare() -> pulumi.Output[str]:
        stores = Datastores(
            "ttl-check",
            DatastoresArgs(
                project=PROJECT,
                firestore_database="(default)",
                firestore_location="europe-west1",
                datasets=(),
                bigquery_location="EU",
                ttl_policies=(TtlPolicy("recent_ids", "expires_at"),),
            ),
        )
        return stores.firestore.name

    run(declare)
    (field,) = [f for f in deployed.mocks.of_type(FIRESTORE_FIELD) if "ttlConfig" in f]
    assert (field["collection"], field["field"]) == ("recent_ids", "expires_at")
    assert "ttlConfig" in field
    assert field["ttlConfig"] == {}, "an empty ttl_config block turns TTL on"
    assert field["indexConfig"] == {"indexes": []}


def test_the_audiences_fingerprint_maps_are_exempt_from_indexing(deployed: Deployed) -> None:
    """Each shard maps up to ~16,000 profile ids: indexed, it would pass Firestore's 40,000
    index entries per document."""
    fields = [f for f in deployed.of_type(FIRESTORE_FIELD) if "ttlConfig" not in f]
    assert [(f["collection"], f["field"], f["indexConfig"]) for f in fields] == [
        (FINGERPRINTS, "fingerprints", {"indexes": []})
    ]


def test_the_entry_point_pulumi_runs_declares_the_stack(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``main: infra/`` runs the directory as a script, with ``infra/`` first on the path."""
    monkeypatch.setattr(program, "BUILD_DIR", tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = len(deployed.mocks.of_type(FUNCTION))

    def entry() -> pulumi.Output[str]:
        runpy.run_path(str(Path(program.__file__).parent), run_name="__main__")
        return pulumi.Output.from_input("done")

    run(entry)
    assert len(deployed.mocks.of_type(FUNCTION)) == before + len(TOPOLOGY.functions)
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.zip")) == sorted(
        {f.folder for f in TOPOLOGY.functions}
    )


def test_the_promotion_sweep_may_publish_back_fills(
    deployed: Deployed, without_destinations: Deployed
) -> None:
    """The jobs function publishes on ``backfills`` whichever destinations are enabled, and,
    for the audiences' and SQL sources' events re-entering ingest, where ingest publishes."""
    for stack in (deployed, without_destinations):
        topics = [d["topic"] for d in stack.of_type(TOPIC_GRANT)]
        granted = [
            d["topic"] for d in stack.of_type(TOPIC_GRANT) if d["member"] == function_account(JOBS)
        ]
        assert sorted(granted) == sorted([BACKFILLS, EVENTS, COLD_EVENTS, FAILED_EVENTS])
        assert topics.count(BACKFILLS) == 1, "nobody else publishes back-fills"


def assert_outputs_match(stack: Deployed, topology: Topology) -> None:
    outputs = stack.outputs
    assert set(outputs["function_urls"]) == {f.name for f in topology.functions}
    assert sorted(outputs["topics"]) == sorted(topology.all_topic_names())
    pulled = sorted(name for name, _ in topology.dead_letter_subscriptions())
    assert sorted(outputs["dead_letter_subscriptions"]) == pulled
    assert sorted(outputs["subscriptions"]) == sorted(s.name for s in topology.subscriptions)


def test_outputs_list_what_was_deployed(deployed: Deployed, without_destinations: Deployed) -> None:
    assert_outputs_match(deployed, TOPOLOGY)
    assert_outputs_match(without_destinations, WITHOUT)


def test_a_destination_not_enabled_costs_no_function_and_no_subscription(
    without_destinations: Deployed,
) -> None:
    stack = without_destinations
    webhook = {s.name for s in TOPOLOGY.subscriptions_of(DESTINATION_WEBHOOK)}
    assert webhook == {"destination-webhook", "destination-webhook-backfills"}
    assert {f["name"] for f in stack.of_type(FUNCTION)} == {f.name for f in WITHOUT.functions}
    subscriptions = {s["name"] for s in stack.of_type(SUBSCRIPTION)}
    assert subscriptions == {s.name for s in WITHOUT.subscriptions} | {
        name for name, _ in WITHOUT.dead_letter_subscriptions()
    }
    accounts = {a["accountId"] for a in stack.of_type(ACCOUNT)}
    invoked = {i["name"] for i in stack.of_type(RUN_INVOKER)}
    members = {m for _, _, m in iam_members(stack)}
    for name in DESTINATIONS:
        function = f"destination-{name}"
        assert function not in {f["name"] for f in stack.of_type(FUNCTION)}
        assert not [s for s in subscriptions if s.startswith(function)]
        assert account_id(TOPOLOGY.function(function)) not in accounts
        assert function not in invoked
        assert function_account(function) not in members
    # Their keys stay in config, and no secret holds them.
    assert sorted(s["secretId"] for s in stack.of_type(SECRET)) == [
        "cdp-deletion-appsflyer-api-token",
        "cdp-pii-hash-key",
        "cdp-sources",
    ]
    # GA4 too: without it the cold tier is only archived, and no invocation per cold message
    assert GA4_FORWARDER not in {f["name"] for f in stack.of_type(FUNCTION)}
    assert "ga4-cold-events" not in subscriptions and "warehouse-cold-archive" in subscriptions


def test_every_declared_topic_exists_without_destinations(without_destinations: Deployed) -> None:
    """Publishers (the sweep on ``backfills``, identity on ``profiled-events``) never depend on
    which destinations are enabled; only the dead-letter topics of subscriptions that are not
    deployed are left out."""
    declared = sorted(t["name"] for t in without_destinations.of_type(TOPIC))
    assert declared == sorted(WITHOUT.all_topic_names())
    assert {t.name for t in TOPOLOGY.topics} <= set(declared)
    assert BACKFILLS in declared and PROFILED_EVENTS in declared
    assert not [t for t in declared if t.startswith("destination-")]


def test_the_rest_of_the_stack_is_the_same_without_destinations(
    deployed: Deployed, without_destinations: Deployed
) -> None:
    """Only the destinations' resources (and their secrets) differ; schedules, tables and the
    other functions do not depend on the destinations enabled (their environment differs only
    by CDP_DESTINATIONS and the enabled destinations' settings, and for those calling
    destinations' APIs, the jobs and privacy, by the enabled destinations' keys)."""
    jobs = sorted((j["name"], j["schedule"]) for j in without_destinations.of_type(JOB))
    assert jobs == sorted((j["name"], j["schedule"]) for j in deployed.of_type(JOB))
    assert len(jobs) == len(TOPOLOGY.schedules)
    tables = sorted((t["datasetId"], t["tableId"]) for t in without_destinations.of_type(TABLE))
    assert tables == sorted((t["datasetId"], t["tableId"]) for t in deployed.of_type(TABLE))
    functions = {f["name"]: f for f in deployed.of_type(FUNCTION)}
    prefixes = tuple(f"CDP_{name.upper()}_" for name in DESTINATIONS)
    for got in without_destinations.of_type(FUNCTION):
        full = functions[got["name"]]
        assert but_environment(got) == but_environment(full), got["name"]
        env, full_env = (f["serviceConfig"]["environmentVariables"] for f in (got, full))
        changed = {k for k in env.keys() | full_env.keys() if env.get(k) != full_env.get(k)}
        assert "CDP_DESTINATIONS" in changed and "CDP_WEBHOOK_URL" in changed
        assert all(k == "CDP_DESTINATIONS" or k.startswith(prefixes) for k in changed)
        assert not [k for k in env if k.startswith(prefixes)], got["name"]
        secret, full_secret = (secret_names(f) for f in (got, full))
        assert secret <= full_secret and not [k for k in secret if k.startswith(prefixes)]
        assert all(k.startswith((*prefixes, "CDP_GA4_")) for k in full_secret - secret)
        if full_secret != secret:
            assert ACCESS[got["name"]].reads_keys_of, got["name"]


ENVIRONMENTS = ("environmentVariables", "secretEnvironmentVariables")


def secret_names(function: Declared) -> set[str]:
    return {e["key"] for e in function["serviceConfig"].get("secretEnvironmentVariables", [])}


def but_environment(function: Declared) -> dict[str, object]:
    service = {k: v for k, v in function["serviceConfig"].items() if k not in ENVIRONMENTS}
    return {**function.inputs, "serviceConfig": service}


def test_no_two_resources_would_share_a_urn(deployed: Deployed) -> None:
    """The mocks let a duplicate name through; the engine would refuse the whole update."""
    names = [(d.typ, d.name) for d in deployed.program]
    assert len(names) == len(set(names))


def test_the_program_refuses_back_fills_for_a_destination_not_enabled(deployed: Deployed) -> None:
    """Refused while reading the config, before anything is declared."""
    values = {**STACK_CONFIG, "cdp:destinations": json.dumps(["slack", "ga4"])}
    values["cdp:destinationKeys"] = json.dumps({"slack": KEYS["slack"], "ga4": KEYS["ga4"]})
    with stack_config(values), pytest.raises(ConfigError, match="back-fills"):
        config.load()


def test_firestore_keeps_seven_days_of_versions_and_a_daily_backup(deployed: Deployed) -> None:
    (database,) = deployed.of_type("gcp:firestore/database:Database")
    assert database["pointInTimeRecoveryEnablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    (schedule,) = deployed.of_type("gcp:firestore/backupSchedule:BackupSchedule")
    assert schedule["database"] == database["name"]
    assert schedule["retention"] == f"{7 * 86_400}s"
    assert "dailyRecurrence" in schedule and "weeklyRecurrence" not in schedule
