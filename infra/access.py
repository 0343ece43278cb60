"""What each function may touch, and nothing more: the least-privilege table.

Each function runs as its own service account, and these are the only roles it gets, each on the
narrowest resource that holds it (a topic, a dataset, a secret), project-wide only where Google
offers nothing narrower (running BigQuery jobs, Firestore). A test checks that every function of
the topology has an entry here and that no role is broader than this table allows.

A destination's secrets are whichever of its fields ``cdp:destinationKeys`` gives (see
``infra/destinations.py``), so its entry names the destination (``destination_keys``) and
the program adds one secret per stored key (``infra/program.py``, ``configured``). A function
that calls other destinations' APIs (the quality job's Slack alerts, the privacy function's
deletion requests) names them in ``reads_keys_of`` and gets their stored keys the same way.

Datasets are granted entry by entry (``gcp.bigquery.DatasetAccess``: ``WRITER`` for a layer it
writes, ``READER`` for one it only reads), never through the dataset IAM resources, which would
drop the authorised views from the restricted datasets' access lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.governance import deletion_secrets
from shared.topology import (
    BACKFILLS,
    COLD_EVENTS,
    DESTINATIONS,
    EVENTS,
    FAILED_EVENTS,
    GA4_FORWARDER,
    IDENTITY,
    IDENTITY_CHANGES,
    INGEST,
    JOBS,
    PRIVACY,
    PROFILED_EVENTS,
)
from shared.topology import WAREHOUSE_LOADER as LOADER
from shared.warehouse.layers import CURATED, OPS, PROCESSED, RAW

SOURCES_SECRET = "sources"  # the Secrets component's key for CDP_SOURCES
PII_HASH_KEY_SECRET = "pii-hash-key"  # CDP_PII_HASH_KEY: PII hashing and the suppression list
# Destinations' keys the deletion APIs need (privacy only): Amplitude's and Intercom's, and the
# cold path's GA4 API secret, whose presence is what enables GA4's deletion. AppsFlyer's and
# Firebase's deletions use neither of their event keys: AppsFlyer's API token comes from
# cdp:deletionKeys (``deletion_secrets``), Google's from the function's own account.
DELETION_KEYS = ("amplitude", "intercom", "ga4")

PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
DATASET_WRITER = "WRITER"  # BigQuery's basic dataset role for roles/bigquery.dataEditor
DATASET_READER = "READER"  # ... and for roles/bigquery.dataViewer
JOB_USER = "roles/bigquery.jobUser"
FIRESTORE_USER = "roles/datastore.user"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
INVOKER = "roles/run.invoker"
# No identity of this stack may ever hold these.
BROAD_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer", "roles/iam.securityAdmin"})


@dataclass(frozen=True)
class Access:
    publishes: tuple[str, ...] = ()  # topics: roles/pubsub.publisher on each
    writes_layers: tuple[str, ...] = ()  # warehouse layers: WRITER on each dataset
    reads_layers: tuple[str, ...] = ()  # warehouse layers it only reads: READER on each
    runs_queries: bool = False  # roles/bigquery.jobUser on the project (no narrower scope)
    uses_firestore: bool = False  # roles/datastore.user on the project (no narrower scope)
    # roles/pubsub.subscriber on each deployed dead-letter subscription (to purge a person).
    pulls_dead_letters: bool = False
    secrets: tuple[tuple[str, str], ...] = ()  # (env var, secret key): secretAccessor on each
    destination_keys: str = ""  # a destination: each of its stored keys, as CDP_<NAME>_<FIELD>
    reads_keys_of: tuple[str, ...] = ()  # other destinations whose stored keys it reads


def destination_access(name: str) -> Access:
    """Every destination alike: refused events become failed events, the ledger is in Firestore
    (providers that cannot dedupe), a report row per attempt goes to ``cdp_ops.deliveries``
    (streamed: no query job), and it reads its own keys."""
    return Access(
        publishes=(FAILED_EVENTS,), writes_layers=(OPS,), uses_firestore=True, destination_keys=name
    )


ACCESS: dict[str, Access] = {
    # Firestore: the promotion state the tier decision reads, and the suppression list; the
    # hash key: the PII policy ``hash`` and the suppression list's keyed hashes.
    INGEST: Access(
        publishes=(EVENTS, COLD_EVENTS, FAILED_EVENTS),
        secrets=(("CDP_SOURCES", SOURCES_SECRET), ("CDP_PII_HASH_KEY", PII_HASH_KEY_SECRET)),
        uses_firestore=True,
    ),
    # Profiled events: each engaged event with its person, for the destinations to consume.
    IDENTITY: Access(
        publishes=(IDENTITY_CHANGES, PROFILED_EVENTS, FAILED_EVENTS), uses_firestore=True
    ),
    LOADER: Access(publishes=(FAILED_EVENTS,), writes_layers=(RAW, PROCESSED, OPS)),
    # The promotion sweep publishes opted-in destinations' back-fills (and records them in
    # Firestore, so each id is back-filled once); the quality checks replace their rows in ops
    # with DML and alert through Slack's incoming webhook (its key, when Slack is enabled). The
    # audiences and SQL sources read the curated views, write profiles and their own state, and
    # send their events through ingest's governance (re-entered, as a replay does): the topics
    # ingest publishes to, and the hash key its suppression list and PII policy need; the
    # sources, whose kinds say which events are the backend's (never a person's session).
    JOBS: Access(
        publishes=(BACKFILLS, EVENTS, COLD_EVENTS, FAILED_EVENTS),
        writes_layers=(RAW, PROCESSED, OPS),
        reads_layers=(CURATED,),
        runs_queries=True,
        uses_firestore=True,
        secrets=(("CDP_SOURCES", SOURCES_SECRET), ("CDP_PII_HASH_KEY", PII_HASH_KEY_SECRET)),
        reads_keys_of=("slack",),
    ),
    # Privacy requests: the person's documents and the audit trail in Firestore; DML deletes in
    # raw (the cold archive too), processed and ops; the identity map (a curated view); the
    # dead letters naming them; the deletion APIs; keyed hashes for the suppression list.
    PRIVACY: Access(
        writes_layers=(RAW, PROCESSED, OPS),
        reads_layers=(CURATED,),
        runs_queries=True,
        uses_firestore=True,
        pulls_dead_letters=True,
        secrets=(("CDP_PII_HASH_KEY", PII_HASH_KEY_SECRET), *deletion_secrets()),
        reads_keys_of=DELETION_KEYS,
    ),
    # Its API secret (cdp:destinationKeys.ga4.api_secret) exists only when "ga4" is enabled, and
    # the forwarder is deployed only then.
    GA4_FORWARDER: Access(publishes=(FAILED_EVENTS,), destination_keys="ga4"),
    **{f"destination-{name}": destination_access(name) for name in DESTINATIONS},
}


def access_of(function: str) -> Access:
    try:
        return ACCESS[function]
    except KeyError:
        raise KeyError(
            f"function {function!r} has no entry in infra/access.py: declare what it may touch"
        ) from None
