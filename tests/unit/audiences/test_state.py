"""The state refresh as a table of watermarks: which spans and keys each refresh computes. The
SQL itself runs on the emulator (tests/integration/test_audience_sql.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.audiences.state import EPOCH, RUNS, STATE, backfill_sql, refresh_state
from shared.audiences.tables import audience_tables
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.warehouse import Dataset, InMemoryWarehouse, Row, SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import PROCESSED

SETTINGS = Settings(project_id="p", dataset_prefix="cdp")
NOW = datetime(2026, 3, 10, 12, 20, tzinfo=UTC)  # 12:00 is settled (15 minutes)
NOON, NINE = NOW.replace(minute=0), NOW.replace(hour=9, minute=0)
STATE_SQL = "SELECT state rows"


class StateSql(SqlRunner):
    """Answers one row per key asked for (``@keys``, else every key), recording each query."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        p = dict(params or {})
        self.calls.append((sql, p))
        return [{"state_id": f"{k}|{p['from'].isoformat()}", "trait_key": k,
                 "identifier_type": "user_id", "identifier_value": "u1",
                 "loaded_hour": p["from"], "value": "", "events": 1, "recorded_at": NOW}
                for k in p.get("keys", self.keys)]  # fmt: skip


def refresh(doc: dict[str, Any] | None, keys: list[str] | None, sql: str = STATE_SQL) -> Any:
    documents, warehouse = InMemoryDocumentStore(), InMemoryWarehouse()
    warehouse.ensure([Dataset(SETTINGS.dataset(PROCESSED), tables=audience_tables())])
    if doc is not None:
        documents.set(RUNS, STATE, doc)
    runner = StateSql(keys or ["t_a", "t_b"])
    done = refresh_state(SETTINGS, runner, warehouse, documents, sql, NOW, keys=keys)
    spans = [(s == STATE_SQL, p["from"], p["until"], p.get("keys")) for s, p in runner.calls]
    return done, spans, documents.get(RUNS, STATE) or {}


NINE_ISO = "2026-03-10T09:00:00.000Z"


@pytest.mark.parametrize(
    ("doc", "keys", "spans"),
    [
        # The first refresh: every key from the beginning of the history.
        (None, ["t_a", "t_b"], [(True, EPOCH, NOON, None)]),
        # Nothing new: the hours since the watermark, for every key.
        ({"state_until": NINE_ISO, "keys": ["t_a", "t_b"]}, ["t_a", "t_b"],
         [(True, NINE, NOON, None)]),
        # t_b redefined as t_c: t_c from the beginning up to the watermark, then every key.
        ({"state_until": NINE_ISO, "keys": ["t_a", "t_b"]}, ["t_a", "t_c"],
         [(False, EPOCH, NINE, ["t_c"]), (True, NINE, NOON, None)]),
        # A key dropped and back again is back-filled again (its rows stopped meanwhile).
        ({"state_until": NINE_ISO, "keys": ["t_a"]}, ["t_a", "t_b"],
         [(False, EPOCH, NINE, ["t_b"]), (True, NINE, NOON, None)]),
        # A watermark without keys (written before they were kept): every key back-filled.
        ({"state_until": NINE_ISO, "sql": "x"}, ["t_a", "t_b"],
         [(False, EPOCH, NINE, ["t_a", "t_b"]), (True, NINE, NOON, None)]),
        # Without keys, any change of the state SQL rebuilds every key from the beginning.
        ({"state_until": NINE_ISO, "sql": "other"}, None, [(True, EPOCH, NOON, None)]),
    ],
)  # fmt: skip
def test_a_refresh_starts_new_keys_from_the_beginning_and_the_rest_at_the_watermark(
    doc: dict[str, Any] | None, keys: list[str] | None, spans: list[Any]
) -> None:
    done, found, stored = refresh(doc, keys)
    assert found == spans
    assert done.state_until == NOON and done.moved
    assert done.rows == sum(len(s[3] or keys or ["t_a", "t_b"]) for s in spans)
    assert stored["state_until"] == "2026-03-10T12:00:00.000Z"
    assert stored.get("keys") == (sorted(keys) if keys is not None else None)


def test_a_redefined_key_is_back_filled_once_even_within_a_settled_hour() -> None:
    held = {"state_until": "2026-03-10T12:00:00.000Z", "keys": ["t_a"]}
    done, spans, stored = refresh(held, ["t_a", "t_c"])
    assert spans == [(False, EPOCH, NOON, ["t_c"])]  # the hours are all held already
    assert (done.rows, stored["keys"]) == (1, ["t_a", "t_c"])
    again, spans, _ = refresh(stored, ["t_a", "t_c"])
    assert (spans, again.rows, again.moved) == ([], 0, False)


def test_the_back_fill_reads_the_state_sql_for_the_new_keys_only() -> None:
    sql = backfill_sql("WITH x AS (SELECT 1)\nSELECT * FROM x\n")
    assert sql == (
        "SELECT * FROM (\nWITH x AS (SELECT 1)\nSELECT * FROM x\n)"
        " WHERE trait_key IN UNNEST(@keys)\n"
    )
