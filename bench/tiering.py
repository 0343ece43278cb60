"""Cost of the tier decision: ingest events/s with tiering off and on, in the same run.

Both runs send the same 100-event batches to the ingest function (functions-framework's test
client, services on in-memory fakes), once with ``tier_enabled`` off and once on. Promotion state
is warm, as in steady state: every id is known to the instance, so the router never touches the
store (on a miss it would be one batched Firestore read per request, never one per event). Also
reported: the router alone, in microseconds per event.

    python -m bench.tiering
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.bootstrap import Services, bootstrap, use_services
from shared.ports.clock import SystemClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse
from shared.settings import Settings, Source

BATCH = 100
BATCHES = 300
KEY = "bench-web-key"
REPO = Path(__file__).resolve().parents[1]


def _bodies(rng: random.Random, visitors: list[str], users: list[str]) -> list[bytes]:
    """70 % anonymous page views, 20 % anonymous tracks, 10 % identified tracks."""
    bodies = []
    for _ in range(BATCHES):
        batch: list[dict[str, Any]] = []
        for _ in range(BATCH):
            roll, anon = rng.random(), rng.choice(visitors)
            event: dict[str, Any] = {
                "type": "page" if roll < 0.7 else "track",
                "anonymousId": anon,
                "timestamp": "2026-11-22T10:00:00.000Z",
                "context": {"campaign": {"name": "spring", "source": "google"}},
                "properties": {"url": "https://app.example.com/pricing", "path": "/pricing"},
            }
            if roll >= 0.7:
                event["event"] = "Viewed Rates"
            if roll >= 0.9:
                event["userId"] = rng.choice(users)
            batch.append(event)
        bodies.append(json.dumps({"batch": batch, "sentAt": "2026-11-22T10:00:01Z"}).encode())
    return bodies


def _services(settings: Settings) -> Services:
    return bootstrap(
        settings,
        clock=SystemClock(),
        publisher=InMemoryPublisher(),
        documents=InMemoryDocumentStore(),
        warehouse=InMemoryWarehouse(),
        http=FakeHttpSender(),
    )


def _ingest(services: Services, client: Any) -> Callable[[bytes], int]:
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode(),
        "Content-Type": "application/json",
    }

    def handle(body: bytes) -> int:
        use_services(services)
        answer = client.post("/v1/batch", data=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"ingest answered {answer.status_code}: {answer.get_data()!r}")
        publisher = services.publisher
        if isinstance(publisher, InMemoryPublisher):
            publisher.messages.clear()
        return BATCH

    return handle


def _rates(
    off: Callable[[bytes], int], on: Callable[[bytes], int], bodies: list[bytes], rounds: int = 5
) -> tuple[float, float]:
    """Best events/s of each, measured in alternating rounds so that a load spike on a shared
    machine hits both alike."""
    best = {"off": 0.0, "on": 0.0}
    for _ in range(rounds):
        for name, handle in (("off", off), ("on", on)):
            started = time.perf_counter()
            events = sum(handle(b) for b in bodies)
            best[name] = max(best[name], events / (time.perf_counter() - started))
    return best["off"], best["on"]


def run() -> list[str]:
    os.environ["CDP_INGEST_RATE_PER_SECOND"] = "1e12"  # measure the work, not the rate limiter
    os.environ["CDP_INGEST_BURST"] = "1e12"
    rng = random.Random(7)
    visitors = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(5000)]
    users = [f"user-{n}" for n in range(500)]
    bodies = _bodies(rng, visitors, users)
    source = Source(id="web", name="Web", kind="web",
                    write_key_sha256=hashlib.sha256(KEY.encode()).hexdigest())  # fmt: skip
    base = Settings(sources=[source], tier_negative_cache_seconds=3600)
    off_services = _services(base.model_copy(update={"tier_enabled": False}))
    on_services = _services(base)
    client = _client()
    for body in bodies:  # warm the instance cache: steady state
        on_services.tiers.split(json.loads(body)["batch"], source)
    store = on_services.documents
    reads = store.reads if isinstance(store, InMemoryDocumentStore) else 0
    off, on = _rates(_ingest(off_services, client), _ingest(on_services, client), bodies)
    reads = (store.reads if isinstance(store, InMemoryDocumentStore) else 0) - reads
    use_services(None)
    batches = [json.loads(b)["batch"] for b in bodies]
    router_us = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for batch in batches:
            on_services.tiers.split(batch, source)
        router_us = min(router_us, (time.perf_counter() - started) / (BATCH * BATCHES) * 1e6)
    slower = (off - on) / off
    return [
        f"tier decision: ingest, batches of {BATCH}: tiering off {off:,.0f} events/s, "
        f"on {on:,.0f} events/s -> {slower:.1%} slower (target < 10 %)",
        f"tier decision: router alone {router_us:.1f} us/event; store reads for known ids: "
        f"{reads} over {5 * BATCH * BATCHES:,} events (no per-event round trip)",
    ]


def _client() -> Any:
    import functions_framework

    from shared.topology import TOPOLOGY

    function = TOPOLOGY.function("ingest")
    source = str(REPO / "functions" / function.folder / "main.py")
    return functions_framework.create_app(
        function.entry_point, source, function.signature_type
    ).test_client()


if __name__ == "__main__":
    print("\n".join(run()))
