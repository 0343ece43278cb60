"""The cost model printed by ``make bench``: operations counted per event (``bench.cost_ops``)
x Google Cloud list prices (``PRICES`` in shared/tiering/mtu.py) → dollars per million events
by tier and call type, per MTU and per month, beside Segment's list price for the same MTUs.

Instance time: the functions deploy with 512 MiB and the default CPU that size gets on Cloud
Run functions (1/3 vCPU) at concurrency 1, so a request holds its instance for its CPU time
x 3 (handlers measured in-process are CPU-bound; waits on Firestore or BigQuery round trips
are not in the figure). Firestore deletes are counted (and priced) as writes.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from bench.cost_ops import COLD, ENGAGED, OPS, Pipeline, measure
from shared.settings import Settings
from shared.tiering.mtu import GIB, PRICES, TIB

VCPU_SHARE = 1 / 3  # vCPU of a 512 MiB instance
MEMORY_GIB = 0.5
TARGET_PER_MILLION_ENGAGED = 2.0
MONTH_MTUS, MONTH_EVENTS = 1_000_000, 100_000_000

# operation → (unit price, unit shown, how many operations make one unit)
UNITS: dict[str, tuple[float, str, float]] = {
    "invocations": (PRICES["invocations_per_million"], "per million requests", 1e6),
    "vcpu_seconds": (PRICES["run_vcpu_second"], "per vCPU-second", 1.0),
    "gib_seconds": (PRICES["run_gib_second"], "per GiB-second", 1.0),
    "pubsub_bytes": (PRICES["pubsub_per_tib"], "per TiB", TIB),
    "firestore_reads": (PRICES["firestore_reads_per_100k"], "per 100k reads", 1e5),
    "firestore_writes": (PRICES["firestore_writes_per_100k"], "per 100k writes", 1e5),
    "bigquery_streaming_bytes": (PRICES["bigquery_streaming_per_gib"], "per GiB", GIB),
    "bigquery_query_bytes": (PRICES["bigquery_query_per_tib"], "per TiB", TIB),
    "ga4_requests": (PRICES["ga4_request"], "per request", 1.0),
}


def billed(ops: Mapping[str, float]) -> dict[str, float]:
    """Counted operations → billed quantities: CPU time becomes instance time at the
    instance's vCPU share, billed as vCPU-seconds and GiB-seconds."""
    out = {k: v for k, v in ops.items() if k != "vcpu_seconds"}
    instance_seconds = ops.get("vcpu_seconds", 0.0) / VCPU_SHARE
    out["vcpu_seconds"] = instance_seconds * VCPU_SHARE
    out["gib_seconds"] = instance_seconds * MEMORY_GIB
    return out


def dollars(quantities: Mapping[str, float]) -> dict[str, float]:
    """Billed quantities → dollars, per operation."""
    return {k: q / UNITS[k][2] * UNITS[k][0] for k, q in quantities.items()}


@dataclass(frozen=True)
class Line:
    name: str
    events: int
    per_event: dict[str, float]  # billed quantities per event

    @property
    def per_million(self) -> float:
        return sum(dollars(self.per_event).values()) * 1e6


def _in_tier(tier: str, key: tuple[str, str]) -> bool:
    return key[0] == tier


def lines(pipeline: Pipeline) -> list[Line]:
    tally = pipeline.tally
    out = []
    for tier in (ENGAGED, COLD):
        count = sum(n for (t, _), n in tally.events.items() if t == tier)
        out.append(Line(tier, count, billed(tally.per_event(partial(_in_tier, tier)))))
    for tier, kind in sorted(tally.events):
        key = (tier, kind)
        per = billed(tally.per_event(partial(operator.eq, key)))
        out.append(Line(f"{tier} {kind}", tally.events[key], per))
    every = billed(tally.per_event(lambda k: True))
    out.append(Line("all events", sum(tally.events.values()), every))
    return out


def report(pipeline: Pipeline, settings: Settings) -> tuple[list[str], float]:
    table = lines(pipeline)
    engaged = table[0]
    everything = table[-1]
    out = ["cost model: operations counted per event x list prices (shared/tiering/mtu.py)"]
    cpu = {k: sum(v) / len(v) * 1000 for k, v in pipeline.cpu.items()}
    out.append(
        "  measured CPU ms per request: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    )
    out.append(f"\n  per engaged event ({engaged.events} counted) and per cold event:")
    cold = table[1]
    for op in (*OPS, "gib_seconds"):
        if op not in UNITS or op not in engaged.per_event:
            continue
        price, unit, _ = UNITS[op]
        d_e, d_c = dollars(engaged.per_event)[op] * 1e6, dollars(cold.per_event)[op] * 1e6
        out.append(
            f"    {op:<25} {engaged.per_event[op]:>12.6g} {cold.per_event[op]:>12.6g}"
            f"  x ${price:<9g} {unit:<21} → ${d_e:>7.3f} / ${d_c:>7.3f} per M"
        )
    out.append("\n  $ per million events:")
    for line in table:
        out.append(f"    {line.name:<18} {line.events:>6} events  ${line.per_million:>8.2f}")
    events = everything.events
    per_event = everything.per_million / 1e6
    month = MONTH_EVENTS * per_event
    segment = MONTH_MTUS * settings.mtu_list_price_usd
    out.append(
        f"\n  measured traffic: {events} events from {pipeline.mtus} MTUs "
        f"({events / max(1, pipeline.mtus):.1f} events per MTU), "
        f"{engaged.events / events:.0%} engaged"
    )
    out.append(
        f"  per MTU: ${per_event * events / max(1, pipeline.mtus):.6f} on the measured traffic"
    )
    out.append(
        f"  a month of {MONTH_MTUS:,} MTUs and {MONTH_EVENTS:,} events (same tier mix): "
        f"${month:,.2f} (${month / MONTH_MTUS:.6f} per MTU)"
    )
    out.append(
        f"  Segment's list price for {MONTH_MTUS:,} MTUs at ${settings.mtu_list_price_usd} "
        f"per MTU: ${segment:,.2f}  ({segment / month:,.0f}x ours)"
    )
    return out, engaged.per_million


def main() -> int:
    pipeline = measure()
    out, per_million = report(pipeline, pipeline.services.settings)
    for text in out:
        print(text)
    ok = per_million <= TARGET_PER_MILLION_ENGAGED
    verdict = "meets" if ok else "MISSES"
    print(f"\ncost: ${per_million:.2f} per million engaged events")
    print(
        f"  {verdict} the target (≤ ${TARGET_PER_MILLION_ENGAGED:.2f} per million engaged events)"
    )
    return 0 if ok else 1  # `make bench` fails when the target is missed


if __name__ == "__main__":
    sys.exit(main())
