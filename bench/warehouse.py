"""Warehouse loader throughput on the BigQuery emulator, against a bare ``insert_rows_json`` of
the very same rows (raw + processed, same tables, same insert ids) measured in the same run.

The loader's extra work is row mapping, grouping and JSON encoding; batching keeps it at one
insert per table per message, so the ratio should stay near 1 (target ≥ 0.5). A per-event insert
loop over a small sample shows what batching avoids.

Uses the emulator at ``CDP_BIGQUERY_ENDPOINT`` when set, else starts the emulators itself.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.adapters.bigquery import BigQueryWarehouse
from shared.envelope import Envelope
from shared.ports.clock import FakeClock
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Row
from shared.settings import Settings
from shared.warehouse.layers import EVENTS_TABLE, PROCESSED, RAW
from shared.warehouse.loader import WarehouseLoader, row_key
from shared.warehouse.rows import event_row, processed_row
from shared.warehouse.tables import datasets

PROJECT = "cdp-bench"
TARGET = 0.5


@contextlib.contextmanager
def bigquery_endpoint() -> Iterator[str]:
    if os.environ.get("CDP_BIGQUERY_ENDPOINT"):
        yield os.environ["CDP_BIGQUERY_ENDPOINT"]
        return
    from shared.local.emulators import EmulatorPorts, start_emulators
    from shared.local.processes import free_port

    ports = EmulatorPorts(free_port(), free_port(), free_port(), free_port())
    with tempfile.TemporaryDirectory() as state:
        processes = start_emulators(ports, PROJECT, Path(state))
        try:
            yield f"http://127.0.0.1:{ports.bigquery}"
        finally:
            for process in processes:
                process.stop()


def demo_events(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """A fintech mix: mostly tracks, some pages and identifies, with a few new properties."""
    now = datetime.now(UTC).isoformat()
    events: list[dict[str, Any]] = []
    for _ in range(n):
        user = f"user-{rng.randrange(500)}"
        base = {
            "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
            "userId": user,
            "anonymousId": f"anon-{user}",
            "sourceId": "web",
            "timestamp": now,
            "receivedAt": now,
            "context": {"ip": "10.0.0.1", "library": {"name": "bench"}},
        }
        kind = rng.random()
        if kind < 0.7:
            props = {
                "platform": "web",
                "session_id": "s1",
                "amount": rng.uniform(1, 500),
                "type": "deposit",
                "method": "ach",
                f"extra_{rng.randrange(20)}": 1,
            }
            events.append(
                {**base, "type": "track", "event": "transaction_completed", "properties": props}
            )
        elif kind < 0.9:
            events.append(
                {
                    **base,
                    "type": "page",
                    "name": "/pricing",
                    "properties": {"path": "/pricing", "url": "https://app.example/"},
                }
            )
        else:
            events.append({**base, "type": "identify", "traits": {"plan": "pro", "email": "x@y"}})
    return events


def rows_by_table(
    settings: Settings, events: list[dict[str, Any]], at: str
) -> dict[str, list[Row]]:
    """Exactly what the loader writes for one message, for the bare baseline."""
    tables: dict[str, list[Row]] = {
        f"{settings.dataset(RAW)}.{EVENTS_TABLE}": [event_row(e, at) for e in events]
    }
    for event in events:
        mapped = processed_row(event, at)
        if mapped:
            tables.setdefault(f"{settings.dataset(PROCESSED)}.{mapped[0]}", []).append(mapped[1])
    return tables


def measure(messages: int = 30, batch: int = 100, sample: int = 30) -> list[str]:
    rng = random.Random(5)
    with bigquery_endpoint() as endpoint:
        bq = BigQueryWarehouse(PROJECT, "EU", endpoint)
        tag = uuid.uuid4().hex[:6]
        loaded, bare = (
            Settings(project_id=PROJECT, dataset_prefix=f"bench_{tag}_{k}")
            for k in ("loader", "bare")
        )
        for settings in (loaded, bare):
            bq.ensure(datasets(settings))
        clock = FakeClock(datetime.now(UTC))
        loader = WarehouseLoader(loaded, bq, InMemoryPublisher(), clock)
        at = clock.now().isoformat()
        loader.handle(Envelope("events", demo_events(rng, 10), {}))  # warm-up: connections
        loader_s = bare_s = 0.0
        row_count = 0
        for _ in range(messages):  # interleaved, so both see the emulator in the same state
            events = demo_events(rng, batch)
            start = time.perf_counter()
            loader.handle(Envelope("events", events, {}))
            loader_s += time.perf_counter() - start
            tables = rows_by_table(bare, events, at)
            row_count += sum(len(rows) for rows in tables.values())
            start = time.perf_counter()
            for table, rows in tables.items():
                bq.client.insert_rows_json(
                    f"{PROJECT}.{table}", rows, row_ids=[row_key(table, r) for r in rows]
                )
            bare_s += time.perf_counter() - start
        per_event_s = _per_event(bq, bare, demo_events(rng, sample), at)
        stored = bq.query(f"SELECT COUNT(*) AS n FROM `{PROJECT}.{loaded.dataset(RAW)}.events`")
    total = messages * batch
    loader_rate, bare_rate, single_rate = total / loader_s, total / bare_s, sample / per_event_s
    per_event = row_count / total
    return [
        f"warehouse loader: {total} events ({row_count} rows: raw + processed) in {messages} "
        f"messages of {batch}: {loader_rate * per_event:,.0f} rows/s = {loader_rate:,.0f} events/s"
        f" ({stored[0]['n']} raw rows stored, warm-up included)",
        f"warehouse bare insert_rows_json of the same rows: {bare_rate * per_event:,.0f} rows/s"
        f" = {bare_rate:,.0f} events/s",
        f"warehouse ratio loader/bare: {loader_rate / bare_rate:.2f} (target >= {TARGET})",
        f"warehouse per-event inserts (what batching avoids): {single_rate:,.0f} events/s; "
        f"the loader is {loader_rate / single_rate:.0f}x that",
    ]


def _per_event(
    bq: BigQueryWarehouse, settings: Settings, events: list[dict[str, Any]], at: str
) -> float:
    start = time.perf_counter()
    for event in events:
        for table, rows in rows_by_table(settings, [event], at).items():
            bq.client.insert_rows_json(f"{PROJECT}.{table}", rows, row_ids=[event["messageId"]])
    return time.perf_counter() - start


def run() -> list[str]:
    """Result lines for ``python -m bench``."""
    return measure()


if __name__ == "__main__":
    print("\n".join(run()))
