"""The whole platform, wired from the one topology and the one warehouse declaration.

``build`` declares everything and returns the stack outputs; ``__main__`` exports them and the
tests call it under Pulumi's mocks. The order is the data path's: APIs, stores and topics first,
then the functions (each granted what ``infra/access.py`` lists), then what calls them.

The PII-bearing layers and the analysts' dataset are restricted (the project's owners only);
``WarehouseAccess`` authorises the curated and analytics views where they read, and gives
``cdp:analysts`` the analytics dataset alone (``infra/components/access.py``).

What is deployed is the topology with only the enabled destinations (``cdp:destinations``): a
destination nobody enabled has no function, no subscription and no dead-letter topic, while
every declared topic (``backfills`` included) exists, so publishers never depend on which
destinations a stack enables. ``cdp:settings.destination_retry``, when it differs from the
default (tests shorten it; the cloud keeps hours), sets the destinations' subscriptions' retry.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra import governance
from infra.access import ACCESS, PII_HASH_KEY_SECRET, Access, access_of
from infra.alerts import Alerts, AlertsArgs
from infra.archives import REPO, build_archive
from infra.components.access import (
    WarehouseAccess,
    WarehouseAccessArgs,
    authorised_datasets,
    restricted_datasets,
)
from infra.components.apis import EnabledApis, EnabledApisArgs
from infra.components.builds import Builds, BuildsArgs
from infra.components.datastores import Datastores, DatastoresArgs, TtlPolicy
from infra.components.function import CloudFunction, CloudFunctionArgs
from infra.components.messaging import (
    PushSubscriptions,
    PushSubscriptionsArgs,
    Topics,
    TopicsArgs,
)
from infra.components.scheduler import Scheduler, SchedulerArgs
from infra.components.secrets import Secrets, SecretsArgs
from infra.config import StackConfig
from shared.audiences.profiles import FINGERPRINTS
from shared.settings import DestinationRetry, Settings
from shared.topology import INGEST, TOPOLOGY, Topology
from shared.warehouse.access import ANALYTICS
from shared.warehouse.tables import datasets

BUILD_DIR = REPO / "infra" / ".build"
# Firestore collections whose documents expire. None yet: ingest's messageId window is kept in
# memory per instance (see shared/ingest/dedup.py); a feature storing expiring documents adds
# its collection here.
TTL_POLICIES: tuple[TtlPolicy, ...] = ()
# The audiences' fingerprint shards: maps of up to ~16,000 profile ids each, read whole.
UNINDEXED: tuple[tuple[str, str], ...] = ((FINGERPRINTS, "fingerprints"),)


def pubsub_agent(project: str, apis: EnabledApis) -> pulumi.Output[str]:
    """The project's Pub/Sub service agent, which dead-letters and mints push tokens. Derived
    from the project number; joined to the identity resource so grants wait until it exists."""
    number = gcp.organizations.get_project_output(project_id=project).number
    return pulumi.Output.all(number, apis.pubsub_identity.id).apply(
        lambda values: f"serviceAccount:service-{values[0]}@gcp-sa-pubsub.iam.gserviceaccount.com"
    )


def dashboard_url(project: str) -> str:
    """No dashboard is deployed yet: until one is, this opens the project's BigQuery console,
    where the warehouse datasets (see the ``datasets`` output) and its tables already are."""
    return f"https://console.cloud.google.com/bigquery?project={project}"


def build(
    config: StackConfig, topology: Topology = TOPOLOGY, build_dir: Path | None = None
) -> dict[str, Any]:
    project, region, settings = config.project, config.region, config.settings
    build_dir = build_dir or BUILD_DIR
    topology = deployed_topology(topology, settings)
    apis = EnabledApis("apis", EnabledApisArgs(project))
    after_apis = pulumi.ResourceOptions(depends_on=[apis])
    agent = pubsub_agent(project, apis)
    declared = datasets(settings)
    stores = Datastores(
        "datastores",
        DatastoresArgs(
            project=project,
            firestore_database=settings.firestore_database,
            firestore_location=config.firestore_location,
            datasets=declared,
            bigquery_location=settings.bigquery_location,
            ttl_policies=TTL_POLICIES,
            unindexed=UNINDEXED,
            protect_data=config.protect_data,
            restricted=restricted_datasets(settings),
        ),
        after_apis,
    )
    analytics = settings.dataset(ANALYTICS)
    WarehouseAccess(
        "warehouse-access",
        WarehouseAccessArgs(
            project=project,
            declared=declared,
            datasets=stores.datasets,
            views=stores.views,
            authorised=authorised_datasets(settings),
            readers={analytics: config.analysts} if config.analysts else {},
        ),
        after_apis,
    )
    secrets = Secrets(
        "secrets",
        SecretsArgs(project, config.sources_json, config.destination_keys, stored_secrets(config)),
        after_apis,
    )
    topics = Topics("messaging", TopicsArgs(project, topology, agent), after_apis)
    builds = Builds("builds", BuildsArgs(project, region), after_apis)
    layers = {
        layer: stores.datasets[settings.dataset(layer)]
        for access in ACCESS.values()
        for layer in (*access.writes_layers, *access.reads_layers)
    }
    functions = {
        f.name: CloudFunction(
            f.name,
            CloudFunctionArgs(
                function=f,
                project=project,
                region=region,
                archive=build_archive(f.folder, build_dir),
                source_bucket=builds.bucket,
                build_service_account=builds.builder.id,
                environment=config.function_environment(),
                access=configured(access_of(f.name), secrets),
                topics=topics.topics,
                datasets=layers,
                secrets=secrets.secrets,
                dead_letters=topics.dead_letter_subscriptions,
            ),
            pulumi.ResourceOptions(depends_on=[apis, builds]),
        )
        for f in topology.functions
    }
    endpoints = {name: fn.endpoint for name, fn in functions.items()}
    subscriptions = PushSubscriptions(
        "push",
        PushSubscriptionsArgs(project, topology, topics.topics, endpoints, agent),
        after_apis,
    )
    Scheduler("scheduler", SchedulerArgs(project, region, topology, endpoints), after_apis)
    Alerts("alerts", AlertsArgs(project, topology, config.alerts), after_apis)
    names = [d.name for d in declared]
    return {
        "ingest_url": functions[INGEST].url,
        "dashboard_url": dashboard_url(project),
        "dashboard_note": "No dashboard is deployed yet: this opens the BigQuery console.",
        "function_urls": {name: fn.url for name, fn in functions.items()},
        "datasets": names,
        "topics": [t.name for t in topics.topics.values()],
        "subscriptions": [s.name for s in subscriptions.subscriptions.values()],
        "dead_letter_subscriptions": list(topics.dead_letter_subscriptions),
    }


def deployed_topology(topology: Topology, settings: Settings) -> Topology:
    """The enabled destinations only, retrying as the settings say."""
    enabled = topology.with_destinations(settings.destinations)
    retry = settings.destination_retry
    if retry == DestinationRetry():
        return enabled
    return enabled.with_destination_retry(retry.attempts, retry.policy())


def stored_secrets(config: StackConfig) -> dict[str, pulumi.Input[str]]:
    """The secrets besides the sources and the destinations' keys: the hash key, and the
    deletion APIs' credentials cdp:deletionKeys gives."""
    stored: dict[str, pulumi.Input[str]] = {
        governance.secret_key(f): value for f, value in config.deletion_keys.items()
    }
    if config.pii_hash_key is not None:
        stored[PII_HASH_KEY_SECRET] = config.pii_hash_key
    return stored


def configured(access: Access, secrets: Secrets) -> Access:
    """The access a function gets: its secrets that this stack stores, its destination's stored
    keys and those of the destinations it calls (a destination's exist only when it is
    enabled, and only those given)."""
    own = tuple((env, key) for env, key in access.secrets if key in secrets.secrets)
    names = (access.destination_keys, *access.reads_keys_of)
    keys = tuple(k for name in names for k in secrets.destination_keys.get(name, ()))
    return replace(access, secrets=own + keys)
