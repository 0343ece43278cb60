"""The loader, its tables and the dedup job on the BigQuery emulator; the users job has its own
module, test_warehouse_users.

Every table or view the emulator creates costs it a DDL that gets slower the more a session has
made (seconds each, late in a run), so a test makes only what it reads or writes (``needed``),
and this module's tests share one set of datasets, each reading only its own message ids. The
tests that read a whole table (the dedup job's counts, every generated view) have their own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.bootstrap import Services, bootstrap
from shared.envelope import Envelope
from shared.jobs import run_job
from shared.local.emulators import EmulatorPorts
from shared.ports.clock import FakeClock, SystemClock
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Dataset
from shared.settings import Settings
from shared.warehouse.layers import (
    EVENT_VIEWS,
    FAILED_EVENTS_TABLE,
    OPS,
    PROCESSED,
    RAW,
    TABLE_OF_TYPE,
)
from shared.warehouse.tables import datasets
from tests.conftest import PROJECT

EVENT_TABLES = ("raw.events", *(f"processed.{t}" for t in TABLE_OF_TYPE.values()))
# What this module's shared datasets hold: the loader's tables, and the one typed view read.
SHARED = (RAW, PROCESSED, f"{OPS}.{FAILED_EVENTS_TABLE}", f"{EVENT_VIEWS}.transaction_completed")


def events(prefix: str, n: int, **properties: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "event": "transaction_completed",
            "userId": f"{prefix}-u",
            "messageId": f"{prefix}-{i}",
            "sourceId": "backend",
            "timestamp": "2026-11-20T10:00:00.000Z",
            "receivedAt": SystemClock().now().isoformat(),
            "properties": {"amount": 12.5, "type": "deposit", "method": "ach", **properties},
        }
        for i in range(n)
    ]


def settings_for(prefix: str) -> Settings:
    return Settings(project_id=PROJECT, dataset_prefix=f"it_{prefix}", bigquery_endpoint="-")


def needed(settings: Settings, *wanted: str) -> list[Dataset]:
    """The datasets of the ``wanted`` layers ("raw"), or of one only the named tables and views
    ("events.transaction_completed"); a name that matches nothing is an error, not a skip."""
    chosen, found = [], set()
    for dataset in datasets(settings):
        layer = dataset.name.removeprefix(f"{settings.dataset_prefix}_")
        if layer in wanted:
            chosen.append(dataset)
            found.add(layer)
            continue
        names = {w.split(".", 1)[1] for w in wanted if w.startswith(f"{layer}.")}
        tables = tuple(t for t in dataset.tables if t.name in names)
        views = tuple(v for v in dataset.views if v.name in names)
        if tables or views:
            chosen.append(replace(dataset, tables=tables, views=views))
            found |= {f"{layer}.{x}" for x in [t.name for t in tables] + [v.name for v in views]}
    if missing := set(wanted) - found:
        raise ValueError(f"no such layer, table or view: {sorted(missing)}")
    return chosen


def services_on(
    bigquery: BigQueryWarehouse,
    prefix: str,
    clock: FakeClock | None = None,
    only: Sequence[str] = (),
) -> Services:
    """Services on the datasets ``it_<prefix>_*``, ensured first: all of them, or ``only``
    those (see ``needed``)."""
    settings = settings_for(prefix)
    bigquery.ensure(needed(settings, *only) if only else datasets(settings))
    return services_for(bigquery, prefix, clock)


def services_for(
    bigquery: BigQueryWarehouse, prefix: str, clock: FakeClock | None = None
) -> Services:
    """Services on datasets ``it_<prefix>_*`` that already exist."""
    return bootstrap(
        settings_for(prefix),
        warehouse=bigquery,
        sql=bigquery,
        publisher=InMemoryPublisher(),
        clock=clock,
    )


def shared_prefix(emulators: EmulatorPorts, *only: str) -> str:
    """A new prefix with ``only`` those datasets ensured, for a module's tests to share."""
    prefix = uuid.uuid4().hex[:10]
    warehouse = BigQueryWarehouse(PROJECT, "EU", f"http://127.0.0.1:{emulators.bigquery}")
    warehouse.ensure(needed(settings_for(prefix), *only))
    return prefix


@pytest.fixture(scope="module")
def prefix(emulators: EmulatorPorts) -> str:
    return shared_prefix(emulators, *SHARED)


@pytest.fixture
def services(bigquery: BigQueryWarehouse, prefix: str) -> Services:
    return services_for(bigquery, prefix)


def counts(bigquery: BigQueryWarehouse, prefix: str, table: str, mine: str) -> dict[str, int]:
    """Rows, and distinct message ids, in ``table`` among the message ids starting ``mine``."""
    [row] = bigquery.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d FROM `it_{prefix}_{table}`"
        " WHERE STARTS_WITH(message_id, @mine)",
        {"mine": mine},
    )
    return dict(row)


def test_the_same_batch_three_times_is_one_set_of_rows(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    batch = events(unique, 20)
    for _ in range(3):
        services.loader.handle(Envelope("events", batch, {}))
    assert counts(bigquery, prefix, "raw.events", unique) == {"n": 20, "d": 20}
    assert counts(bigquery, prefix, "processed.tracks", unique) == {"n": 20, "d": 20}
    view = f"it_{prefix}_events.transaction_completed"
    typed = bigquery.query(
        f"SELECT COUNT(*) AS n, SUM(amount) AS total FROM `{view}`"
        " WHERE STARTS_WITH(message_id, @mine)",
        {"mine": unique},
    )
    assert typed == [{"n": 20, "total": 250.0}]


def test_every_call_type_lands_in_its_partitioned_clustered_table(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    base = {"anonymousId": f"{unique}-a", "timestamp": "2026-11-20T10:00:00Z"}
    calls: list[dict[str, Any]] = [
        {"type": "track", "event": "kyc_started", "userId": "u"},
        {"type": "identify", "userId": "u", "traits": {"plan": "pro"}},
        {"type": "page", "name": "Home", "properties": {"path": "/"}},
        {"type": "screen", "name": "Wallet"},
        {"type": "group", "userId": "u", "groupId": "g1"},
        {"type": "alias", "userId": "u", "previousId": "old"},
    ]
    batch = [{**base, **c, "messageId": f"{unique}-{i}"} for i, c in enumerate(calls)]
    services.loader.handle(Envelope("events", batch, {}))
    for table in EVENT_TABLES:
        expected = len(calls) if table == "raw.events" else 1
        assert counts(bigquery, prefix, table, unique) == {"n": expected, "d": expected}, table
    tracks = bigquery.client.get_table(f"{PROJECT}.it_{prefix}_processed.tracks")
    assert tracks.time_partitioning.field == "timestamp"
    assert tracks.clustering_fields == ["user_id", "anonymous_id"]


def test_a_property_or_trait_never_seen_before_loads(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    novel = events(unique, 2, **{f"never_seen_{unique}": {"nested": [1, 2]}})
    novel[1]["properties"]["amount"] = "not a number"  # typed by the plan, wrongly sent
    identify = {
        "type": "identify",
        "userId": f"{unique}-u",
        "messageId": f"{unique}-id",
        "timestamp": "2026-11-20T10:00:00Z",
        "traits": {f"trait_{unique}": True, "plan": "pro"},
    }
    assert services.loader.handle(Envelope("events", [*novel, identify], {})) == 3
    rows = bigquery.query(
        f"SELECT message_id, amount, properties FROM `it_{prefix}_events.transaction_completed`"
        " WHERE STARTS_WITH(message_id, @mine) ORDER BY message_id",
        {"mine": unique},
    )
    assert [r["amount"] for r in rows] == [12.5, None]  # SAFE_CAST: NULL, never a failed load
    assert rows[1]["properties"]["amount"] == "not a number"  # the raw value stays in JSON
    assert rows[0]["properties"][f"never_seen_{unique}"] == {"nested": [1, 2]}
    [identified] = bigquery.query(
        f"SELECT traits FROM `it_{prefix}_processed.identifies` WHERE message_id = @id",
        {"id": identify["messageId"]},
    )
    assert identified["traits"][f"trait_{unique}"] is True
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher) and publisher.on("failed-events") == []


def test_a_row_bigquery_refuses_becomes_a_failed_event(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    good, bad = events(unique, 2)
    bad["timestamp"] = "yesterday-ish"
    assert services.loader.handle(Envelope("events", [good, bad], {})) == 1
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [message] = publisher.on("failed-events")
    failed = Envelope("failed", json.loads(message.data)["events"], {})
    assert {f["messageId"] for f in failed.events} == {bad["messageId"]}
    services.loader.handle(failed)  # what the failed-events subscription does next
    stored = bigquery.query(
        f"SELECT stage, reason FROM `it_{prefix}_ops.failed_events`"
        " WHERE STARTS_WITH(message_id, @mine)",
        {"mine": unique},
    )
    assert stored and all(r["stage"] == "warehouse" for r in stored)
    assert {r["reason"].split(":")[0] for r in stored} == {
        f"it_{prefix}_raw.events",
        f"it_{prefix}_processed.tracks",
    }


def test_the_dedup_job_removes_a_late_redelivery_everywhere(
    bigquery: BigQueryWarehouse, unique: str
) -> None:
    earlier = FakeClock(SystemClock().now())
    earlier.advance(-120)
    # Its own datasets: the job's counts are of whole tables.
    services = services_on(bigquery, unique, clock=earlier, only=(RAW, PROCESSED))
    batch = events(unique, 5)
    services.loader.handle(Envelope("events", batch, {}))
    # A redelivery after insertId's window: same messageIds under other insert ids, later.
    late = bootstrap(services.settings, warehouse=_NewInsertIds(bigquery), sql=bigquery,
                     publisher=InMemoryPublisher())  # fmt: skip
    late.loader.handle(Envelope("events", batch, {}))
    assert counts(bigquery, unique, "raw.events", unique) == {"n": 10, "d": 5}
    result = run_job("warehouse-dedup", services)
    assert result["deleted"] == 10
    assert result["tables"]["raw.events"] == result["tables"]["processed.tracks"] == 5
    for table in ("raw.events", "processed.tracks"):
        assert counts(bigquery, unique, table, unique) == {"n": 5, "d": 5}
    kept = bigquery.query(f"SELECT MAX(loaded_at) AS at FROM `it_{unique}_raw.events`")
    assert kept[0]["at"] <= earlier.now()  # the first copy is the one kept
    assert run_job("warehouse-dedup", services)["deleted"] == 0


class _NewInsertIds(BigQueryWarehouse):
    """The real adapter, but with insert ids BigQuery has not seen (its dedup window passed)."""

    def __init__(self, inner: BigQueryWarehouse) -> None:
        self._inner = inner

    def insert_rows(self, table, rows, row_ids):  # type: ignore[no-untyped-def]
        return self._inner.insert_rows(table, rows, [f"late-{r}" for r in row_ids])


def test_every_generated_view_answers_a_query(bigquery: BigQueryWarehouse, unique: str) -> None:
    services = services_on(bigquery, unique)  # its own datasets, all of them: it counts all rows
    services.loader.handle(Envelope("events", events(unique, 1), {}))
    for dataset in datasets(services.settings):
        for view in dataset.views:
            [row] = bigquery.query(f"SELECT COUNT(*) AS n FROM `{dataset.name}.{view.name}`")
            assert row["n"] == (
                1 if view.name in ("transaction_completed", "event_profiles") else 0
            )
