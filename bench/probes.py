"""Measurements for ``make bench-burst`` that are not the burst itself: each emulator's own
latency with nothing else running, CPU seconds per process group, and the pure figures
(percentiles, the verdict against the targets)."""

from __future__ import annotations

import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.ports.documents import DocumentStore, Transaction
from shared.ports.publisher import OutboundMessage, Publisher

TICKS = os.sysconf("SC_CLK_TCK")
MAX_REQUEST_SECONDS = 2.0
MAX_SECONDS_TO_RIGHT = 30.0


@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        return cls(percentile(seconds, 50), percentile(seconds, 99), max(seconds, default=0.0))

    def ms(self) -> str:
        p50, p99, top = (_ms(s) for s in (self.p50, self.p99, self.max))
        return f"p50 {p50}, p99 {p99}, max {top}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:,.0f} ms"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(p/100 * n)); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Outcome:
    requests: int
    failed_requests: int  # not answered 200 (timeouts included)
    slow_requests: int  # over MAX_REQUEST_SECONDS
    seconds_to_right: float | None  # None: not every profile right before the deadline


def misses(outcome: Outcome) -> list[str]:
    """The targets missed, as sentences; empty when the burst met them all."""
    found = []
    if outcome.failed_requests:
        found.append(f"{outcome.failed_requests} of {outcome.requests} requests not answered 200")
    if outcome.slow_requests:
        found.append(
            f"{outcome.slow_requests} of {outcome.requests} requests over {MAX_REQUEST_SECONDS:g} s"
        )
    if outcome.seconds_to_right is None:
        found.append(f"profiles not all right within {MAX_SECONDS_TO_RIGHT:g} s")
    elif outcome.seconds_to_right > MAX_SECONDS_TO_RIGHT:
        found.append(
            f"profiles right {outcome.seconds_to_right:.1f} s after the last request "
            f"(target {MAX_SECONDS_TO_RIGHT:g} s)"
        )
    return found


def timed(call: Callable[[], object], times: int) -> Latency:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return Latency.of(seconds)


def firestore_alone(store: DocumentStore, times: int = 40) -> dict[str, Latency]:
    """One document read, and one read-then-write transaction on a fresh document, one at a
    time: what a single identity event costs at least, with no contention."""
    doc = f"probe-{uuid.uuid4().hex}"
    store.set("bench_probe", doc, {"n": 0})

    def bump(tx: Transaction) -> None:
        found = tx.get("bench_probe", doc) or {}
        tx.set("bench_probe", doc, {"n": int(found.get("n", 0)) + 1})

    def fresh(tx: Transaction) -> None:
        key = uuid.uuid4().hex
        tx.get("bench_probe", key)
        tx.set("bench_probe", key, {"n": 1})

    return {
        "read": timed(lambda: store.get("bench_probe", doc), times),
        "transaction (read + write one document)": timed(
            lambda: store.run_transaction(bump), times
        ),
        "transaction on a new document": timed(lambda: store.run_transaction(fresh), times),
    }


def pubsub_alone(publisher: Publisher, topic: str, times: int = 40) -> dict[str, Latency]:
    """One message published and its id awaited, as ingest does per request."""
    message = OutboundMessage(topic=topic, data=b'{"events": []}', attributes={})
    return {"publish (one message, awaited)": timed(lambda: publisher.publish([message]), times)}


def group_cpu_seconds(groups: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of every live process in each process group (a local stack
    starts each server in its own group: a JVM under its wrapper, gunicorn's workers)."""
    wanted = set(groups)
    totals = dict.fromkeys(wanted, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        group = int(fields[2])  # after the name: state, ppid, pgrp, ...
        if group in wanted:
            totals[group] += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return totals


def mean_ms(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values) * 1000:,.0f} ms" if values else "n/a"
