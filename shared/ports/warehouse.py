"""The warehouse (BigQuery): table declarations, row inserts, reads and SQL.

``Warehouse`` is what loaders need and has an in-memory fake. ``SqlRunner`` runs SQL; it exists
only against BigQuery (or its emulator), so what uses it is tested on the emulator.
"""

from __future__ import annotations

import abc
import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BackendUnavailable

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # BigQuery standard type: STRING, INT64, FLOAT64, BOOL, TIMESTAMP, DATE, JSON
    mode: str = "NULLABLE"  # NULLABLE | REQUIRED | REPEATED
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    partition_field: str | None = None  # day partitions on this TIMESTAMP/DATE column
    partition_expiration_days: int | None = None
    clustering: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class View:
    """A logical view; ``query`` names tables fully (`project.dataset.table`)."""

    name: str
    query: str
    description: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    tables: tuple[Table, ...] = ()
    description: str = ""
    views: tuple[View, ...] = ()  # created after every dataset's tables, in declaration order


@dataclass(frozen=True)
class RowError:
    index: int  # position in the inserted batch
    reason: str


class Warehouse(abc.ABC):
    @abc.abstractmethod
    def ensure(self, datasets: Sequence[Dataset]) -> None:
        """Create what is missing; add new columns to existing tables; create or replace views
        whose query changed (after all tables, since views read them). Idempotent."""

    @abc.abstractmethod
    def insert_rows(
        self, table: str, rows: Sequence[Row], row_ids: Sequence[str]
    ) -> list[RowError]:
        """Stream rows into ``dataset.table``. ``row_ids`` deduplicate retries (insertId).

        Returns the rows BigQuery refused (the others are stored); raises BackendUnavailable
        when the service itself failed, so a Pub/Sub consumer retries.
        """

    @abc.abstractmethod
    def list_rows(self, table: str, max_results: int = 10_000) -> list[Row]: ...


class SqlRunner(abc.ABC):
    @abc.abstractmethod
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...


@dataclass
class InMemoryWarehouse(Warehouse):
    """Validates rows against declared columns the way streaming inserts do; dedups row ids.
    Views are only recorded: querying them needs SQL, which is tested on the emulator."""

    tables: dict[str, Table] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    seen_ids: dict[str, set[str]] = field(default_factory=dict)
    fail_next: int = 0
    insert_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, datasets: Sequence[Dataset]) -> None:
        with self._lock:
            for dataset in datasets:
                for table in dataset.tables:
                    key = f"{dataset.name}.{table.name}"
                    self.tables[key] = table
                    self.rows.setdefault(key, [])
                    self.seen_ids.setdefault(key, set())
                for view in dataset.views:
                    self.views[f"{dataset.name}.{view.name}"] = view

    def insert_rows(
        self, table: str, rows: Sequence[Row], row_ids: Sequence[str]
    ) -> list[RowError]:
        with self._lock:
            self.insert_calls += 1
            if self.fail_next:
                self.fail_next -= 1
                raise BackendUnavailable("insert failed (simulated outage)")
            if table not in self.tables:
                raise BackendUnavailable(f"Not found: Table {table}")
            known = {c.name: c for c in self.tables[table].columns}
            errors: list[RowError] = []
            for index, (row, row_id) in enumerate(zip(rows, row_ids, strict=True)):
                unknown = sorted(set(row) - set(known))
                missing = [
                    c.name
                    for c in known.values()
                    if c.mode == "REQUIRED" and row.get(c.name) is None
                ]
                if unknown:
                    errors.append(RowError(index, f"no such field: {unknown[0]}"))
                elif missing:
                    errors.append(RowError(index, f"missing required field: {missing[0]}"))
                elif row_id not in self.seen_ids[table]:
                    self.seen_ids[table].add(row_id)
                    self.rows[table].append(copy.deepcopy(dict(row)))
            return errors

    def list_rows(self, table: str, max_results: int = 10_000) -> list[Row]:
        with self._lock:
            return copy.deepcopy(self.rows.get(table, [])[:max_results])
