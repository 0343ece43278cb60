"""Warehouse contract: the fake and BigQuery (emulator) behave alike."""

from __future__ import annotations

from shared.ports.warehouse import Column, Dataset, SqlRunner, Table, View, Warehouse
from tests.conftest import PROJECT


def spec(unique: str, *extra: Column) -> Dataset:
    columns = (Column("id", "STRING", "REQUIRED"), Column("at", "TIMESTAMP"), *extra)
    return Dataset(
        f"contract_{unique}", (Table("t", columns, partition_field="at", clustering=("id",)),)
    )


def test_insert_dedups_on_row_id_and_reports_refused_rows(
    warehouse: Warehouse, unique: str
) -> None:
    warehouse.ensure([spec(unique)])
    table = f"contract_{unique}.t"
    rows = [{"id": "a", "at": "2026-01-01T00:00:00Z"}, {"id": "b", "at": "2026-01-01T00:00:00Z"}]
    assert warehouse.insert_rows(table, rows, ["a", "b"]) == []
    assert warehouse.insert_rows(table, rows, ["a", "b"]) == []  # a retry
    errors = warehouse.insert_rows(table, [{"id": "c"}, {"nope": 1}], ["c", "d"])
    assert [e.index for e in errors] == [1]
    assert sorted(r["id"] for r in warehouse.list_rows(table)) == ["a", "b", "c"]


def test_ensure_is_idempotent_and_adds_new_columns(warehouse: Warehouse, unique: str) -> None:
    warehouse.ensure([spec(unique)])
    warehouse.ensure([spec(unique)])
    warehouse.ensure([spec(unique, Column("plan", "STRING"))])
    table = f"contract_{unique}.t"
    assert warehouse.insert_rows(table, [{"id": "x", "plan": "pro"}], ["x"]) == []
    assert [r["plan"] for r in warehouse.list_rows(table)] == ["pro"]


def test_ensure_creates_views_and_replaces_a_changed_one(warehouse: Warehouse, unique: str) -> None:
    table = spec(unique)
    first = View("v", f"SELECT id FROM `{PROJECT}.contract_{unique}.t`")
    second = View("v", f"SELECT id, at FROM `{PROJECT}.contract_{unique}.t`")
    warehouse.ensure([Dataset(table.name, table.tables, views=(first,))])
    warehouse.ensure([Dataset(table.name, table.tables, views=(first,))])  # idempotent
    warehouse.ensure([Dataset(table.name, table.tables, views=(second,))])  # a new plan version
    assert warehouse.insert_rows(f"contract_{unique}.t", [{"id": "a"}], ["a"]) == []
    if isinstance(warehouse, SqlRunner):  # only BigQuery can read a view
        rows = warehouse.query(f"SELECT * FROM `{PROJECT}.contract_{unique}.v`")
        assert rows == [{"id": "a", "at": None}]
