"""What each function may touch, and nothing more: the least-privilege table.

Each function runs as its own service account, and these are the only roles it gets, each on the
narrowest resource that holds it (a topic, a dataset, a secret), project-wide only where Google
offers nothing narrower (running BigQuery jobs, Firestore). A test checks that every function of
the topology has an entry here and that no role is broader than this table allows.

A destination's secrets are whichever of its fields ``cdp:destinationKeys`` gives (see
``infra/destinations.py``), so its entry names the destination (``destination_keys``) and
the program adds one secret per stored key (``infra/program.py``, ``configured``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    PROFILED_EVENTS,
)
from shared.topology import WAREHOUSE_LOADER as LOADER
from shared.warehouse.tables import OPS, PROCESSED, RAW

SOURCES_SECRET = "sources"  # the Secrets component's key for CDP_SOURCES

PUBLISHER = "roles/pubsub.publisher"
DATA_EDITOR = "roles/bigquery.dataEditor"
JOB_USER = "roles/bigquery.jobUser"
FIRESTORE_USER = "roles/datastore.user"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
INVOKER = "roles/run.invoker"
# No identity of this stack may ever hold these.
BROAD_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer", "roles/iam.securityAdmin"})


@dataclass(frozen=True)
class Access:
    publishes: tuple[str, ...] = ()  # topics: roles/pubsub.publisher on each
    writes_layers: tuple[str, ...] = ()  # warehouse layers: dataEditor on each dataset
    runs_queries: bool = False  # roles/bigquery.jobUser on the project (no narrower scope)
    uses_firestore: bool = False  # roles/datastore.user on the project (no narrower scope)
    secrets: tuple[tuple[str, str], ...] = ()  # (env var, secret key): secretAccessor on each
    destination_keys: str = ""  # a destination: each of its stored keys, as CDP_<NAME>_<FIELD>


def destination_access(name: str) -> Access:
    """Every destination alike: refused events become failed events, the ledger is in Firestore
    (providers that cannot dedupe), a report row per attempt goes to ``cdp_ops.deliveries``
    (streamed: no query job), and it reads its own keys."""
    return Access(
        publishes=(FAILED_EVENTS,), writes_layers=(OPS,), uses_firestore=True, destination_keys=name
    )


ACCESS: dict[str, Access] = {
    INGEST: Access(  # Firestore: the promotion state the tier decision reads
        publishes=(EVENTS, COLD_EVENTS, FAILED_EVENTS),
        secrets=(("CDP_SOURCES", SOURCES_SECRET),),
        uses_firestore=True,
    ),
    # Profiled events: each engaged event with its person, for the destinations to consume.
    IDENTITY: Access(
        publishes=(IDENTITY_CHANGES, PROFILED_EVENTS, FAILED_EVENTS), uses_firestore=True
    ),
    LOADER: Access(publishes=(FAILED_EVENTS,), writes_layers=(RAW, PROCESSED, OPS)),
    # The promotion sweep publishes opted-in destinations' back-fills (and records them in
    # Firestore, so each id is back-filled once).
    JOBS: Access(
        publishes=(BACKFILLS,),
        writes_layers=(RAW, PROCESSED),
        runs_queries=True,
        uses_firestore=True,
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
