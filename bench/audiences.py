"""One audience run over 10,000 people and their events, on the BigQuery and Firestore
emulators: its time, the rows it reads, the profiles it writes and the events it emits, and a
second run at once after it (nothing changed: it should write and emit nothing).

The people live the seeds' lifecycle stages over 60 days (sign-ups, bank links, transactions
from the backend, web sessions), as raw events received when they happened; each has a profile
in Firestore and its two identifiers in the identity map. Seeded with load jobs (one per table),
not streaming inserts. Baselines measured in the same run, on the same emulator: a bare
``SELECT COUNT(*)`` over the same events, and a bare read of every event inside the run's
longest window (what the run has to read at the least).

Bounded: about 110,000 events; about five minutes on two cores (measured: tables 40 s, seeding
25 s, the first run 3 minutes, as it also builds the all-time state from the whole history and
writes every profile; the second 30 s). Set ``CDP_BENCH_AUDIENCE_PEOPLE`` for another size.
Starts its own emulators unless ``CDP_BIGQUERY_ENDPOINT`` and ``FIRESTORE_EMULATOR_HOST`` name
running ones (then its datasets have a prefix of their own, but Firestore's collections are
shared: use an emulator no one else uses).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.adapters.bigquery import BigQueryWarehouse
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Row
from shared.settings import Settings
from shared.warehouse.layers import EVENTS_TABLE, IDENTITY_ASSIGNMENTS_TABLE, PROCESSED, RAW
from shared.warehouse.tables import datasets

PROJECT = "cdp-bench"
PEOPLE = 10_000
KINDS = (("incomplete", 15), ("dormant", 15), ("active", 30), ("direct_deposit", 10),
         ("churn", 15), ("new", 15))  # fmt: skip
DAY = timedelta(days=1)


@contextlib.contextmanager
def emulators() -> Iterator[str]:
    """The BigQuery endpoint; Firestore's host is in the environment."""
    if os.environ.get("CDP_BIGQUERY_ENDPOINT") and os.environ.get("FIRESTORE_EMULATOR_HOST"):
        yield os.environ["CDP_BIGQUERY_ENDPOINT"]
        return
    from shared.local.emulators import EmulatorPorts, start_emulators
    from shared.local.processes import free_port, patched_environ

    ports = EmulatorPorts(free_port(), free_port(), free_port(), free_port())
    with tempfile.TemporaryDirectory() as state:
        processes = start_emulators(ports, PROJECT, Path(state))
        try:
            with patched_environ(ports.environment(PROJECT)):
                yield f"http://127.0.0.1:{ports.bigquery}"
        finally:
            for process in processes:
                process.stop()


class People:
    """Raw event rows and identity assignments of ``n`` people, as of ``now``."""

    def __init__(self, n: int, now: datetime, seed: int = 3) -> None:
        self.rng, self.now = random.Random(seed), now
        self.events: list[Row] = []
        self.assignments: list[Row] = []
        names, weights = zip(*KINDS, strict=True)
        for i in range(n):
            self.person(i, self.rng.choices(names, weights)[0])

    def row(self, i: int, source: str, call: str, when: datetime, **fields: Any) -> None:
        user = f"bu-{i}"
        at, received = when.isoformat(), (when + timedelta(seconds=2)).isoformat()
        event: dict[str, Any] = {"type": call, "userId": user, "sourceId": source}
        event["messageId"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        if source != "backend":  # the backend knows the user only
            event["anonymousId"] = f"ba-{i}"
        event |= {"timestamp": at, "receivedAt": received, **fields}
        columns = {
            "message_id": event["messageId"],
            "type": call,
            "event": fields.get("event"),
            "user_id": user,
            "anonymous_id": event.get("anonymousId"),
            "source_id": source,
            "timestamp": at,
            "received_at": received,
        }
        self.events.append({**columns, "loaded_at": received, "payload": json.dumps(event)})

    def ago(self, low: float, high: float) -> datetime:
        return self.now - self.rng.uniform(low, high) * DAY

    def track(self, i: int, source: str, event: str, when: datetime, **props: Any) -> None:
        props.setdefault("platform", "server" if source == "backend" else source)
        self.row(i, source, "track", when, event=event, properties=props)

    def pay(self, i: int, when: datetime, amount: tuple[float, float] = (10, 800)) -> None:
        kind, method = self.rng.choice(
            (("deposit", "ach"), ("transfer", "instant"), ("card", "pos"))
        )
        props = {"amount": round(self.rng.uniform(*amount), 2), "type": kind, "method": method}
        self.track(i, "backend", "transaction_initiated", when, **props)
        self.track(i, "backend", "transaction_completed", when + timedelta(minutes=2), **props)

    def session(self, i: int, when: datetime) -> None:
        for n in range(self.rng.randint(1, 3)):
            self.row(i, "web", "page", when + n * timedelta(minutes=4), name="/", properties={})

    def person(self, i: int, kind: str) -> None:
        signed = self.ago(0.5, 5) if kind == "new" else self.ago(8, 60)
        self.assign(i, signed)
        self.session(i, signed - timedelta(minutes=10))
        self.row(i, "web", "identify", signed, traits={"plan": "free"})
        self.track(i, "web", "account_created", signed, method="email")
        if kind == "incomplete":
            return
        self.track(i, "web", "bank_account_linked", signed + timedelta(minutes=20), bank="Demo")
        if kind == "new":
            self.pay(i, signed + timedelta(hours=2))
        elif kind == "dormant" and signed < self.now - 32 * DAY:
            self.pay(i, signed + DAY)
        elif kind in ("active", "direct_deposit"):
            for _ in range(self.rng.randint(3, 6) if kind == "active" else 2):
                self.pay(i, self.ago(0.2, min(29.5, (self.now - signed) / DAY)))
            self.session(i, self.ago(0.2, 6))
            if kind == "direct_deposit":
                self.track(i, "backend", "direct_deposit_enabled", self.ago(0.2, 6))
        elif kind == "churn":
            high = self.rng.random() < 0.4
            for _ in range(2 if high else 1):
                self.pay(i, self.ago(22, 29), (260, 450) if high else (20, 200))
            for _ in range(self.rng.randint(3, 5)):
                self.session(i, self.ago(8, 30))

    def assign(self, i: int, when: datetime) -> None:
        at = when.isoformat()
        for kind, value in (("user_id", f"bu-{i}"), ("anonymous_id", f"ba-{i}")):
            row = {"assignment_id": f"c-{i}:{kind}:{value}", "change_id": f"c-{i}"}
            row |= {"change": "created", "identifier_type": kind, "identifier_value": value}
            self.assignments.append(
                {**row, "profile_id": f"bp-{i}", "valid_from": at, "recorded_at": at}
            )


def load(bq: BigQueryWarehouse, table: str, rows: list[Row]) -> float:
    """One load job of ``rows`` (newline-delimited JSON) into ``table``; its seconds."""
    from google.cloud import bigquery

    schema = bq.client.get_table(table).schema
    config = bigquery.LoadJobConfig(
        schema=schema, source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON
    )
    start = time.perf_counter()
    bq.client.load_table_from_json(rows, table, job_config=config).result()
    return time.perf_counter() - start


def seed_profiles(n: int, at: str) -> float:
    """The people's profile documents (a run writes only to profiles that exist)."""
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)
    start = time.perf_counter()
    for first in range(0, n, 500):
        batch = client.batch()
        for i in range(first, min(n, first + 500)):
            ids = {"user_id": [f"bu-{i}"], "anonymous_id": [f"ba-{i}"]}
            doc = {"profile_id": f"bp-{i}", "created_at": at, "identifiers": ids}
            batch.set(client.collection("profiles").document(f"bp-{i}"), doc)
        batch.commit()
    return time.perf_counter() - start


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def measure(people: int = PEOPLE) -> list[str]:
    from shared.audiences.run import run_audiences
    from shared.bootstrap import bootstrap

    now = datetime.now(UTC)
    population = People(people, now)
    with emulators() as endpoint:
        prefix = f"bench_aud_{uuid.uuid4().hex[:6]}"
        settings = Settings(project_id=PROJECT, dataset_prefix=prefix, bigquery_endpoint=endpoint)
        bq = BigQueryWarehouse(PROJECT, "EU", endpoint)
        bq.ensure(datasets(settings))
        events = settings.table(RAW, EVENTS_TABLE)
        seeded = load(bq, events, population.events)
        assignments = settings.table(PROCESSED, IDENTITY_ASSIGNMENTS_TABLE)
        seeded += load(bq, assignments, population.assignments)
        profiles_s = seed_profiles(people, now.isoformat())
        services = bootstrap(settings, publisher=InMemoryPublisher())
        [count], count_s = timed(bq.query, f"SELECT COUNT(*) AS n FROM `{events}`")
        # The partitions a run reads for its windows: received in the longest window + 1 day.
        window = (
            f"SELECT user_id, event, timestamp, payload FROM `{events}` WHERE received_at >= @since"
        )
        since = now - 31 * DAY
        in_window, window_s = timed(bq.query, window, {"since": since})
        first = run_audiences(services)
        second = run_audiences(services)
        state = settings.table(PROCESSED, TRAIT_STATE_TABLE)
        [held] = bq.query(f"SELECT COUNT(*) AS n FROM `{state}`")
    n = int(count["n"])
    lines = [
        f"audiences: {people:,} people, {n:,} events ({len(in_window):,} inside the longest "
        f"window), seeded by load jobs in {seeded:.1f} s ({n / seeded:,.0f} rows/s), "
        f"{people:,} profiles in {profiles_s:.1f} s",
        f"audiences baseline: bare COUNT(*) over the events {count_s:.2f} s; bare read of the "
        f"window's {len(in_window):,} events {window_s:.2f} s",
    ]
    for name, report in (("first run", first), ("second run", second)):
        lines.append(
            f"audiences {name}: {report.seconds:.1f} s = {report.seconds / count_s:,.0f}x the "
            f"COUNT, {report.seconds / window_s:,.1f}x the window read; its inputs: "
            f"{len(in_window):,} events received in the window + 1 day, the state table "
            f"({held['n']:,} rows, {report.state_rows:,} added by this run); profiles written "
            f"{report.profiles_written:,}, events emitted {report.events_emitted:,}, "
            f"transitions {report.transitions:,}"
        )
    lines.append(f"audiences sizes: {first.sizes}")
    return lines


def run() -> list[str]:
    """Result lines for ``python -m bench``."""
    return measure(int(os.environ.get("CDP_BENCH_AUDIENCE_PEOPLE", PEOPLE)))


if __name__ == "__main__":
    print("\n".join(run()))
