"""Warehouse and SQL runner on google-cloud-bigquery (BigQuery or its local emulator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from shared.adapters.errors import transient_as_unavailable
from shared.errors import BackendUnavailable
from shared.ports.warehouse import Dataset, Row, RowError, SqlRunner, Table, View, Warehouse


def make_client(project_id: str, location: str, endpoint: str | None) -> bigquery.Client:
    """A client for the cloud, or for the emulator at ``endpoint`` (no credentials needed)."""
    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=project_id,
            location=location,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return bigquery.Client(project=project_id, location=location)


def schema_of(table: Table) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, c.type, mode=c.mode, description=c.description)
        for c in table.columns
    ]


class BigQueryWarehouse(Warehouse, SqlRunner):
    def __init__(self, project_id: str, location: str = "EU", endpoint: str | None = None) -> None:
        self._project_id = project_id
        self._location = location
        self._endpoint = endpoint
        self._client: bigquery.Client | None = None

    @property
    def client(self) -> bigquery.Client:
        if self._client is None:
            self._client = make_client(self._project_id, self._location, self._endpoint)
        return self._client

    def ensure(self, datasets: Sequence[Dataset]) -> None:
        """Create what is missing; a dataset's tables are listed once, so only objects that
        exist are read one by one (a new dataset costs no get per table or view)."""
        with transient_as_unavailable("BigQuery DDL"):
            present: dict[str, set[str]] = {}
            for dataset in datasets:
                ds = bigquery.Dataset(f"{self._project_id}.{dataset.name}")
                ds.location = self._location
                ds.description = dataset.description or None
                self.client.create_dataset(ds, exists_ok=True)
                present[dataset.name] = {t.table_id for t in self.client.list_tables(ds)}
                for table in dataset.tables:
                    self._ensure_table(dataset.name, table, table.name in present[dataset.name])
            for dataset in datasets:
                for view in dataset.views:
                    self._ensure_view(dataset.name, view, view.name in present[dataset.name])

    def _ensure_view(self, dataset: str, view: View, present: bool = True) -> None:
        """Create the view, or replace it when its query changed (a new plan version).

        Replaced by delete and create: the emulator keeps the old definition on update_table.
        """
        view_id = f"{self._project_id}.{dataset}.{view.name}"
        existing = self._get(view_id) if present else None
        if existing is not None:
            if existing.view_query == view.query:
                return
            self.client.delete_table(view_id, not_found_ok=True)
        bq_view = bigquery.Table(view_id)
        bq_view.view_query = view.query
        bq_view.description = view.description or None
        self.client.create_table(bq_view, exists_ok=True)

    def _get(self, table_id: str) -> bigquery.Table | None:
        try:
            return self.client.get_table(table_id)
        except gexc.NotFound:
            return None

    def _ensure_table(self, dataset: str, table: Table, present: bool = True) -> None:
        table_id = f"{self._project_id}.{dataset}.{table.name}"
        existing = self._get(table_id) if present else None
        if existing is None:
            bq_table = bigquery.Table(table_id, schema=schema_of(table))
            bq_table.description = table.description or None
            if table.partition_field:
                expiration = table.partition_expiration_days
                bq_table.time_partitioning = bigquery.TimePartitioning(
                    type_=bigquery.TimePartitioningType.DAY,
                    field=table.partition_field,
                    expiration_ms=expiration * 86_400_000 if expiration else None,
                )
            if table.clustering:
                bq_table.clustering_fields = list(table.clustering)
            self.client.create_table(bq_table, exists_ok=True)
            return
        known = {f.name for f in existing.schema}
        added = [f for f in schema_of(table) if f.name not in known]
        if added:  # schema evolution: only ever add NULLABLE columns
            existing.schema = [*existing.schema, *added]
            self.client.update_table(existing, ["schema"])

    def insert_rows(
        self, table: str, rows: Sequence[Row], row_ids: Sequence[str]
    ) -> list[RowError]:
        if not rows:
            return []
        try:
            with transient_as_unavailable("BigQuery insert"):
                result = self.client.insert_rows_json(
                    f"{self._project_id}.{table}",
                    [_jsonable(r) for r in rows],
                    row_ids=list(row_ids),
                    skip_invalid_rows=True,
                )
        except gexc.NotFound as error:  # a table being created, or a wrong deploy: retry
            raise BackendUnavailable(f"BigQuery table {table}: {error}") from error
        return [
            RowError(
                int(e["index"]),
                "; ".join(x.get("message", x.get("reason", "")) for x in e["errors"]),
            )
            for e in result
            if any(x.get("reason") != "stopped" for x in e["errors"])
        ]

    def list_rows(self, table: str, max_results: int = 10_000) -> list[Row]:
        with transient_as_unavailable("BigQuery read"):
            return [
                dict(r)
                for r in self.client.list_rows(
                    f"{self._project_id}.{table}", max_results=max_results
                )
            ]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        config = bigquery.QueryJobConfig(
            query_parameters=[_parameter(k, v) for k, v in (params or {}).items()]
        )
        with transient_as_unavailable("BigQuery query"):
            return [dict(r) for r in self.client.query(sql, job_config=config).result()]


KINDS = {bool: "BOOL", int: "INT64", float: "FLOAT64", str: "STRING", datetime: "TIMESTAMP"}


def _parameter(
    name: str, value: Any
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A scalar, or an array for ``IN UNNEST(@name)`` (a constant list, so BigQuery can prune
    clustered blocks by it)."""
    if isinstance(value, list | tuple):
        kind = KINDS.get(type(value[0]), "STRING") if value else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    return bigquery.ScalarQueryParameter(name, KINDS.get(type(value), "STRING"), value)


def _jsonable(row: Row) -> Row:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
