"""What each function may touch, and nothing more: the least-privilege table.

Each function runs as its own service account, and these are the only roles it gets, each on the
narrowest resource that holds it (a topic, a dataset, a secret), project-wide only where Google
offers nothing narrower (running BigQuery jobs, Firestore). A test checks that every function of
the topology has an entry here and that no role is broader than this table allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.topology import (
    BACKFILLS,
    COLD_EVENTS,
    DESTINATION_WEBHOOK,
    EVENTS,
    FAILED_EVENTS,
    GA4_FORWARDER,
    IDENTITY,
    IDENTITY_CHANGES,
    INGEST,
    JOBS,
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


ACCESS: dict[str, Access] = {
    INGEST: Access(  # Firestore: the promotion state the tier decision reads
        publishes=(EVENTS, COLD_EVENTS, FAILED_EVENTS),
        secrets=(("CDP_SOURCES", SOURCES_SECRET),),
        uses_firestore=True,
    ),
    IDENTITY: Access(publishes=(IDENTITY_CHANGES, FAILED_EVENTS), uses_firestore=True),
    LOADER: Access(publishes=(FAILED_EVENTS,), writes_layers=(RAW, PROCESSED, OPS)),
    # The promotion sweep publishes opted-in destinations' back-fills (and records them in
    # Firestore, so each id is back-filled once).
    JOBS: Access(
        publishes=(BACKFILLS,),
        writes_layers=(RAW, PROCESSED),
        runs_queries=True,
        uses_firestore=True,
    ),
    # The API secret exists only when "ga4" is an enabled destination (cdp:destinations);
    # without it the forwarder sends nothing and the cold tier is only archived.
    GA4_FORWARDER: Access(publishes=(FAILED_EVENTS,), secrets=(("CDP_GA4_API_SECRET", "ga4"),)),
    # Deployed only when "webhook" is enabled, and then its signing secret exists: it is the
    # "webhook" key of cdp:destinationKeys. A receiver's refusal is recorded as a failed event.
    DESTINATION_WEBHOOK: Access(
        publishes=(FAILED_EVENTS,), secrets=(("CDP_WEBHOOK_SECRET", "webhook"),)
    ),
}


def access_of(function: str) -> Access:
    try:
        return ACCESS[function]
    except KeyError:
        raise KeyError(
            f"function {function!r} has no entry in infra/access.py: declare what it may touch"
        ) from None
