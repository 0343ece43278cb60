"""Operations counted per event for the cost model: the real handlers (ingest, identity, the
warehouse loader, the GA4 forwarder) driven in-process on a generated population, over
counting fakes of our ports. Each Pub/Sub message is delivered to the consumers the topology
subscribes to its topic; what a message costs is shared evenly by the events it carries, so
totals per tier and call type add up to what was counted.
"""

from __future__ import annotations

import base64
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.identity import CountingDocumentStore
from bench.population import Population, generate
from shared.bootstrap import Services, bootstrap
from shared.envelope import Envelope, decode_push
from shared.ingest.handler import IngestRequest
from shared.ingest.sources import hash_key
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher, PublishedMessage
from shared.ports.warehouse import InMemoryWarehouse, Row, RowError, Warehouse
from shared.settings import Settings, Source
from shared.tiering.mtu import PUBSUB_MIN_BYTES, STREAMED_ROW_MIN_BYTES
from shared.topology import COLD_EVENTS, EVENTS, FAILED_EVENTS, IDENTITY_CHANGES
from shared.warehouse.tables import datasets

COLD, ENGAGED = "cold", "engaged"
OPS = (
    "invocations", "vcpu_seconds", "pubsub_bytes", "firestore_reads", "firestore_writes",
    "bigquery_streaming_bytes", "ga4_requests",
)  # fmt: skip


class CountingWarehouse(Warehouse):
    """Counts streamed rows and their billed bytes (JSON size, at least 1 KB a row)."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner, self.rows, self.bytes = inner, 0, 0

    def ensure(self, datasets: Sequence[Any]) -> None:
        self.inner.ensure(datasets)

    def insert_rows(
        self, table: str, rows: Sequence[Row], row_ids: Sequence[str]
    ) -> list[RowError]:
        self.rows += len(rows)
        sizes = (len(json.dumps(r, default=str)) for r in rows)
        self.bytes += sum(max(STREAMED_ROW_MIN_BYTES, size) for size in sizes)
        return self.inner.insert_rows(table, rows, row_ids)

    def list_rows(self, table: str, max_results: int = 10_000) -> list[Row]:
        return self.inner.list_rows(table, max_results)


@dataclass
class Tally:
    events: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    ops: dict[tuple[str, str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )

    def share(self, owners: list[tuple[str, str]], **ops: float) -> None:
        for owner in owners:
            for name, value in ops.items():
                self.ops[owner][name] += value / len(owners)

    def per_event(self, keep: Callable[[tuple[str, str]], bool]) -> dict[str, float]:
        events = sum(n for k, n in self.events.items() if keep(k))
        totals = {op: sum(o[op] for k, o in self.ops.items() if keep(k)) for op in OPS}
        return {op: v / events if events else 0.0 for op, v in totals.items()}


def _push(message: PublishedMessage) -> Envelope:
    data = base64.b64encode(message.data).decode()
    return decode_push({"message": {"data": data, "attributes": message.attributes}})


def _billed(message: PublishedMessage) -> int:
    size = len(message.data) + sum(len(k) + len(v) for k, v in message.attributes.items())
    return max(PUBSUB_MIN_BYTES, size)


class Pipeline:
    """Ingest and every consumer, as deployed with GA4 on and no destination enabled."""

    def __init__(self) -> None:
        self.sources = {s: f"bench-{s}-key" for s in ("web", "ios", "android")}
        settings = Settings(
            project_id="cdp-bench",
            ga4_measurement_id="G-BENCH",
            ga4_api_secret="bench",
            sources=[
                Source(
                    id=s,
                    name=s,
                    kind="web" if s == "web" else "mobile",
                    write_key_sha256=hash_key(k),
                )
                for s, k in self.sources.items()
            ],
        )
        self.publisher = InMemoryPublisher()  # keeps every message, in order
        self.documents = CountingDocumentStore(InMemoryDocumentStore())
        self.warehouse = CountingWarehouse(InMemoryWarehouse())
        self.warehouse.ensure(datasets(settings))
        self.http = FakeHttpSender()
        self.services: Services = bootstrap(
            settings, publisher=self.publisher, documents=self.documents,
            warehouse=self.warehouse, http=self.http,
        )  # fmt: skip
        self.consumers: dict[str, list[tuple[str, Callable[[Envelope], object]]]] = {
            EVENTS: [("identity", self.services.identity.handle)],
            COLD_EVENTS: [("ga4", self.services.ga4.handle)],
        }
        loader = self.services.loader.handle
        for topic in (EVENTS, COLD_EVENTS, FAILED_EVENTS, IDENTITY_CHANGES):
            self.consumers.setdefault(topic, []).append(("loader", loader))
        self.tally = Tally()
        self.users: set[str] = set()  # MTUs as per-MTU CDPs count them (shared/tiering/mtu.py)
        self.anonymous: set[str] = set()
        self.linked: set[str] = set()
        self.cpu: dict[str, list[float]] = defaultdict(list)  # seconds per request, by function

    def _timed(self, name: str, call: Callable[[], object]) -> dict[str, float]:
        before = (self.documents.reads, self.documents.writes, self.warehouse.bytes,
                  len(self.http.requests))  # fmt: skip
        cpu = time.thread_time()
        call()
        spent = time.thread_time() - cpu
        self.cpu[name].append(spent)
        return {
            "invocations": 1, "vcpu_seconds": spent,
            "firestore_reads": self.documents.reads - before[0],
            "firestore_writes": self.documents.writes - before[1],
            "bigquery_streaming_bytes": self.warehouse.bytes - before[2],
            "ga4_requests": len(self.http.requests) - before[3],
        }  # fmt: skip

    def send(self, source: str, events: Sequence[dict[str, Any]]) -> None:
        key = base64.b64encode(f"{self.sources[source]}:".encode()).decode()
        request = IngestRequest(
            "/v1/batch", {"authorization": f"Basic {key}", "content-type": "application/json"},
            json.dumps({"batch": list(events)}).encode(),
        )  # fmt: skip
        start = len(self.publisher.messages)
        ops = self._timed("ingest", lambda: self.services.ingest.handle(request))
        owners = self._owners(self.publisher.messages[start:], events)
        self.tally.share(owners, **ops)
        self._drain(start, owners)

    def _owners(
        self, messages: Sequence[PublishedMessage], events: Sequence[dict[str, Any]]
    ) -> list[tuple[str, str]]:
        """Who the request's cost belongs to: each event by its tier and call type."""
        tiers = {}
        for message in messages:
            tier = COLD if message.topic == COLD_EVENTS else ENGAGED
            for event in _push(message).events:
                tiers[event.get("messageId")] = tier
        owners = []
        for event in events:
            owner = (tiers.get(event.get("messageId"), ENGAGED), str(event.get("type")))
            self.tally.events[owner] += 1
            if owner[0] == ENGAGED:
                self._count_mtu(event)
            owners.append(owner)
        return owners

    def _count_mtu(self, event: dict[str, Any]) -> None:
        user, anonymous = event.get("userId"), event.get("anonymousId")
        if user:
            self.users.add(str(user))
            if anonymous:
                self.linked.add(str(anonymous))
        elif anonymous:
            self.anonymous.add(str(anonymous))

    @property
    def mtus(self) -> int:
        return len(self.users) + len(self.anonymous - self.linked)

    def _drain(self, start: int, owners: list[tuple[str, str]]) -> None:
        """Deliver every message the request led to, and its consequences, to the topology's
        subscribers; their cost goes to the events of the message's own tier."""
        index = start
        while index < len(self.publisher.messages):
            message = self.publisher.messages[index]
            index += 1
            envelope = _push(message)
            tier = COLD if message.topic == COLD_EVENTS else ENGAGED
            mine = [o for o in owners if o[0] == tier] or owners
            deliveries = self.consumers.get(message.topic, [])
            self.tally.share(mine, pubsub_bytes=_billed(message) * (1 + len(deliveries)))
            for name, consume in deliveries:
                self.tally.share(mine, **self._timed(name, partial(consume, envelope)))


def measure(population: Population | None = None) -> Pipeline:
    pipeline = Pipeline()
    for batch in (population or generate(people=400)).batches:
        pipeline.send(batch.source, batch.events)
    return pipeline
