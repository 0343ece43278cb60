"""Firestore (profiles and the identity graph) and the BigQuery warehouse.

Datasets and tables come from ``shared.warehouse.tables``, the declaration the local stack also
creates on the emulator, so columns, day partitions, clustering and the cold archive's expiring
partitions are the same in both places.

A ``restricted`` dataset starts with one access entry, the project's owners, instead of
BigQuery's defaults (which let every project Viewer read it and every Editor write it); who
else may read it is granted entry by entry (``gcp.bigquery.DatasetAccess``: the functions'
accounts, authorised views, analysts), so the dataset ignores later changes to its own list
rather than fight those entries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from shared.ports.warehouse import Dataset, Table

DAY_MS = 24 * 60 * 60 * 1000
DAY_S = 24 * 60 * 60
OWNERS_ONLY = [gcp.bigquery.DatasetAccessArgs(role="OWNER", special_group="projectOwners")]


@dataclass(frozen=True)
class TtlPolicy:
    """A Firestore collection group whose documents expire at the timestamp in ``field``."""

    collection: str
    field: str


@dataclass(frozen=True)
class DatastoresArgs:
    project: str
    firestore_database: str  # "(default)" or a named database
    firestore_location: str
    datasets: Sequence[Dataset]
    bigquery_location: str
    ttl_policies: Sequence[TtlPolicy] = ()
    # (collection, field) pairs nobody queries on: exempt from Firestore's automatic indexes (a
    # map field's every key is indexed, and a document holds at most 40,000 index entries).
    unindexed: Sequence[tuple[str, str]] = ()
    protect_data: bool = True  # keep data (and refuse to delete it) on destroy
    restricted: frozenset[str] = frozenset()  # datasets readable only by explicit grants
    # Firestore keeps 7 days of versions, readable and exportable at any whole minute, and a
    # daily backup kept this many days (at most 98): a restore after the window has passed.
    backup_retention_days: int = 7


def table_schema(table: Table) -> str:
    """The BigQuery JSON schema of a declared table."""
    return json.dumps(
        [
            {"name": c.name, "type": c.type, "mode": c.mode, "description": c.description}
            for c in table.columns
        ]
    )


def time_partitioning(table: Table) -> gcp.bigquery.TableTimePartitioningArgs | None:
    if table.partition_field is None:
        return None
    expiry = table.partition_expiration_days
    return gcp.bigquery.TableTimePartitioningArgs(
        type="DAY",
        field=table.partition_field,
        expiration_ms=expiry * DAY_MS if expiry is not None else None,
    )


class Datastores(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: DatastoresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Datastores", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        protect = args.protect_data
        self.firestore = gcp.firestore.Database(
            "firestore",
            project=args.project,
            name=args.firestore_database,
            location_id=args.firestore_location,
            type="FIRESTORE_NATIVE",
            delete_protection_state=(
                "DELETE_PROTECTION_ENABLED" if protect else "DELETE_PROTECTION_DISABLED"
            ),
            deletion_policy="ABANDON" if protect else "DELETE",
            point_in_time_recovery_enablement="POINT_IN_TIME_RECOVERY_ENABLED",
            opts=child,
        )
        # Backups outlive the schedule (each expires on its own); restored into a new database.
        self.backup_schedule = (
            gcp.firestore.BackupSchedule(
                "firestore-daily-backup",
                project=args.project,
                database=self.firestore.name,
                retention=f"{args.backup_retention_days * DAY_S}s",
                # The SDK's argument-less __init__ carries no annotation.
                daily_recurrence=gcp.firestore.BackupScheduleDailyRecurrenceArgs(),  # type: ignore[no-untyped-call]
                opts=child,
            )
            if args.backup_retention_days
            else None
        )
        self.ttl_fields = [
            gcp.firestore.Field(
                f"ttl-{policy.collection}-{policy.field}",
                project=args.project,
                database=self.firestore.name,
                collection=policy.collection,
                field=policy.field,
                ttl_config=gcp.firestore.FieldTtlConfigArgs(),
                # A TTL field is a timestamp nobody queries on: do not pay to index it.
                index_config=gcp.firestore.FieldIndexConfigArgs(indexes=[]),
                opts=child,
            )
            for policy in args.ttl_policies
        ]
        self.unindexed_fields = [
            gcp.firestore.Field(
                f"unindexed-{collection}-{field}",
                project=args.project,
                database=self.firestore.name,
                collection=collection,
                field=field,
                index_config=gcp.firestore.FieldIndexConfigArgs(indexes=[]),
                opts=child,
            )
            for collection, field in args.unindexed
        ]
        self.datasets: dict[str, gcp.bigquery.Dataset] = {}
        self.tables: dict[str, gcp.bigquery.Table] = {}
        for dataset in args.datasets:
            self._dataset(dataset, args, child)
        self.views: dict[str, gcp.bigquery.Table] = {}
        for dataset in args.datasets:  # views read tables (and earlier views) of any dataset
            self._views(dataset, args)
        self.register_outputs(
            {
                "firestore": self.firestore.name,
                "datasets": [d.dataset_id for d in self.datasets.values()],
            }
        )

    def _views(self, declared: Dataset, args: DatastoresArgs) -> None:
        for view in declared.views:
            key = f"{declared.name}.{view.name}"
            self.views[key] = gcp.bigquery.Table(
                key,
                project=args.project,
                dataset_id=self.datasets[declared.name].dataset_id,
                table_id=view.name,
                description=view.description,
                view=gcp.bigquery.TableViewArgs(query=view.query, use_legacy_sql=False),
                deletion_protection=False,  # a view holds no data
                opts=pulumi.ResourceOptions(
                    parent=self.datasets[declared.name],
                    depends_on=[*self.tables.values(), *self.views.values()],
                ),
            )

    def _dataset(
        self, declared: Dataset, args: DatastoresArgs, child: pulumi.ResourceOptions
    ) -> None:
        restricted = declared.name in args.restricted
        dataset = gcp.bigquery.Dataset(
            declared.name,
            project=args.project,
            dataset_id=declared.name,
            location=args.bigquery_location,
            description=declared.description,
            delete_contents_on_destroy=not args.protect_data,
            accesses=OWNERS_ONLY if restricted else None,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["accesses"] if restricted else None)
            ),
        )
        self.datasets[declared.name] = dataset
        for table in declared.tables:
            self.tables[f"{declared.name}.{table.name}"] = gcp.bigquery.Table(
                f"{declared.name}.{table.name}",
                project=args.project,
                dataset_id=dataset.dataset_id,
                table_id=table.name,
                description=table.description,
                schema=table_schema(table),
                time_partitioning=time_partitioning(table),
                clusterings=list(table.clustering) or None,
                deletion_protection=args.protect_data,
                opts=pulumi.ResourceOptions(parent=dataset),
            )
