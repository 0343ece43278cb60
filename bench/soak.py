"""``python -m bench.soak [--minutes N]``: the whole local stack under a steady load for N
minutes (default 10), with its memory watched and every event counted in every store after.

1. Starts the stack (no schedules, fresh state) with ingest's rate limit raised out of the way
   (``CDP_INGEST_RATE_PER_SECOND``/``CDP_INGEST_BURST``, shared/ingest/config.py).
2. Ingest alone (bench/ingest_alone.py: a second ingest process whose topics feed nothing):
   its maximum from a short ramp (doubling the rate every few seconds while it keeps pace),
   then a minute at 80 % of it.
3. The sustainable end-to-end rate: short windows at rising rates (x1.5) of identified engaged
   events (bench/steady.py) until the backlog (accepted events some store does not show yet)
   grows within a window (bench/soak_rules.py says when); the stack drains between windows.
4. The soak: N minutes at 80 % of that rate, one row a minute (events sent, accepted, errors,
   throughput, p50/p99 request latency, backlog at the minute's end), then the drain.
5. The census by messageId in every store, and each process's RSS (summed over its process
   group, from /proc) at start, after warm-up and at the end.

Exits 1 on lost events, on a function whose RSS grew past the bound after warm-up
(bench/soak_rules.py says why that bound), or when no rate was sustainable. Every loop is
bounded; everything is on loopback.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.burst import with_stack
from bench.figures import Minute, minute_of, minute_table
from bench.ingest_alone import ingest_alone
from bench.rss import group_rss_mib
from bench.soak_rules import Rss, Step, next_rate, ramp_maximum, ramp_next, rss_misses
from bench.soak_rules import sustainable as sustainable_rate
from bench.soak_track import Tracker, census_table
from bench.steady import Load, Sent, drive
from shared.adapters.bigquery import BigQueryWarehouse
from shared.local.processes import patched_environ
from shared.local.stack import LocalStack

BATCH, USERS = 20, 1000  # events per request (a mobile SDK's flush), people in the load
SEARCH_START, SEARCH_CEILING, WINDOW_SECONDS = 10.0, 500.0, 30.0
INGEST_START, INGEST_CEILING, INGEST_WINDOW, INGEST_BATCH = 500.0, 32_000.0, 5.0, 100
DRAIN_SECONDS, END_DRAIN_SECONDS, WARM_SECONDS = 90.0, 300.0, 10.0
SHARE = 0.8
UNLIMITED = {"CDP_INGEST_RATE_PER_SECOND": "1000000", "CDP_INGEST_BURST": "1000000"}


def say(line: str) -> None:
    print(line, flush=True)


def in_background(
    info: dict[str, Any], load: Load, rate: float, seconds: float, tracker: Tracker
) -> tuple[threading.Thread, list[list[Sent]]]:
    """``drive`` on a thread (the caller samples the backlog meanwhile); its results after
    the thread is joined."""
    out: list[list[Sent]] = []
    url, key = info["ingest_url"], info["write_keys"]["web"]
    thread = threading.Thread(
        target=lambda: out.append(
            drive(url, key, load, rate, seconds, record=tracker.recorder(load))
        ),
        daemon=True,
    )
    thread.start()
    return thread, out


def drained(tracker: Tracker, seconds: float) -> tuple[int, float]:
    """Wait until the backlog is 0, at most ``seconds``: (the last backlog, seconds waited)."""
    started = time.monotonic()
    left = tracker.backlog()
    while left > 0 and time.monotonic() - started < seconds:
        time.sleep(3.0)
        left = tracker.backlog()
    return left, time.monotonic() - started


def ingest_phase(stack: LocalStack, info: dict[str, Any]) -> list[str]:
    key, run = info["write_keys"]["web"], uuid.uuid4().hex[:8]
    with ingest_alone(stack, Path(info["state_dir"]) / "logs") as (url, process):
        idle = group_rss_mib([process.process.pid])[process.process.pid]
        ramp: list[tuple[float, float, int]] = []
        rate = ramp_next(ramp, INGEST_START, INGEST_CEILING)
        while rate is not None:
            load = Load(f"{run}r{len(ramp)}", users=USERS, batch=INGEST_BATCH)
            row = minute_of(0, drive(url, key, load, rate, INGEST_WINDOW, workers=16),
                            INGEST_WINDOW, None)  # fmt: skip
            ramp.append((rate, row.throughput, row.errors))
            say(f"  ramp {rate:>8,.0f} events/s: accepted {row.throughput:,.0f}/s, "
                f"{row.errors} errors, p99 {row.p99 * 1000:.0f} ms")  # fmt: skip
            rate = ramp_next(ramp, INGEST_START, INGEST_CEILING)
        top = ramp_maximum(ramp)
        target = SHARE * top
        load = Load(f"{run}s", users=USERS, batch=INGEST_BATCH)
        sent = drive(url, key, load, target, 60.0, workers=16)
        end = group_rss_mib([process.process.pid])[process.process.pid]
    return [
        f"ingest alone: maximum {top:,.0f} events/s (requests of {INGEST_BATCH}); one minute "
        f"at 80 % = {target:,.0f} events/s (RSS {idle:.0f} MiB idle, {end:.0f} MiB after):",
        *minute_table([minute_of(1, sent, 60.0, None)]),
    ]


def search(tracker: Tracker, info: dict[str, Any], window: float) -> tuple[float | None, list[str]]:
    steps: list[Step] = []
    warm = tracker.load("warm")  # first pushes start each function's clients
    in_background(info, warm, SEARCH_START, WARM_SECONDS, tracker)[0].join()
    left, waited = drained(tracker, DRAIN_SECONDS)
    lines = [
        f"  warm-up: {WARM_SECONDS:.0f} s at {SEARCH_START:g} events/s, drained in {waited:.0f} s"
    ]
    say(lines[-1])
    rate = next_rate(steps, SEARCH_START, SEARCH_CEILING)
    while rate is not None:
        load = tracker.load(f"w{len(steps)}")
        thread, out = in_background(info, load, rate, window, tracker)
        time.sleep(window / 2)
        early = tracker.backlog()
        thread.join()
        end, behind = tracker.laggard()
        row = minute_of(0, out[0], window, end)
        steps.append(Step(rate, row.throughput, early, end, row.errors))
        left, waited = drained(tracker, DRAIN_SECONDS)
        lines.append(
            f"  {rate:>6.1f} events/s: accepted {row.throughput:.1f}/s, backlog {early} at "
            f"{window / 2:.0f} s -> {end} at {window:.0f} s ({behind or 'no store'} furthest "
            f"behind); drained to {left} in {waited:.0f} s"
        )
        say(lines[-1])
        rate = next_rate(steps, SEARCH_START, SEARCH_CEILING)
    return sustainable_rate(steps), lines


def soak(tracker: Tracker, info: dict[str, Any], rate: float, minutes: int,
         sample: Callable[[], None]) -> list[Minute]:  # fmt: skip
    rows: list[Minute] = []
    for minute in range(1, minutes + 1):
        load = tracker.load(f"m{minute}")
        thread, out = in_background(info, load, rate, 60.0, tracker)
        thread.join()
        rows.append(minute_of(minute, out[0], 60.0, tracker.backlog()))
        say(minute_table(rows)[-1])
        if minute == 1:
            sample()  # warm: the start the RSS verdict compares with
    return rows


def rss_lines(stack: LocalStack, samples: list[dict[int, float]]) -> tuple[list[Rss], list[str]]:
    names = {p.process.pid: p.name for p in stack.processes}
    lines = [f"  {'process':<32} {'idle MiB':>9} {'warm MiB':>9} {'end MiB':>9} {'bound':>7}"]
    judged = []
    for pid, name in sorted(names.items(), key=lambda kv: kv[1]):
        idle, warm, end = (s.get(pid, 0.0) for s in samples)
        rss = Rss(name, warm, end)
        if name.startswith("function "):
            judged.append(rss)
        bound = f"{rss.bound_mib:>7.0f}" if name.startswith("function ") else "      -"
        lines.append(f"  {name:<32} {idle:>9.0f} {warm:>9.0f} {end:>9.0f} {bound}")
    return judged, lines


def run(stack: LocalStack, info: dict[str, Any], minutes: int, window: float, batch: int) -> int:
    project = info["project_id"]
    bq = BigQueryWarehouse(project, "EU", info["environment"]["CDP_BIGQUERY_ENDPOINT"])
    groups = [p.process.pid for p in stack.processes]
    samples = [group_rss_mib(groups)]
    say(f"soak: {minutes} min, requests of {batch} identified engaged events, {USERS} people")
    for line in ingest_phase(stack, info):
        say(line)
    tracker = Tracker(stack, project, bq, f"{uuid.uuid4().hex[:8]}-", batch=batch, people=USERS)
    tracker.start()
    try:
        say(
            f"sustainable end-to-end rate (windows of {window:.0f} s; backlog over "
            "the raw table and the destination stand-ins):"
        )
        best, _ = search(tracker, info, window)
        if best is None:
            say("  MISSED: no rate kept up")
            return 1
        rate = SHARE * best
        say(f"  sustainable: {best:.1f} events/s; soaking at 80 % = {rate:.1f} events/s")
        say("\n".join(minute_table([])[:2]))
        rows = soak(tracker, info, rate, minutes, lambda: samples.append(group_rss_mib(groups)))
        left, waited = drained(tracker, END_DRAIN_SECONDS)
        say(f"drain: backlog {rows[-1].backlog} -> {left} in {waited:.0f} s")
        counts = tracker.census()
    finally:
        tracker.stop()
    samples.append(group_rss_mib(groups))
    if len(samples) < 3:
        samples.insert(1, samples[0])
    sent, accepted = sum(r.sent for r in rows), sum(r.accepted for r in rows)
    say(f"soak total: {sent:,} sent, {accepted:,} accepted; census of every run event "
        f"(search windows included) by messageId after the drain:")  # fmt: skip
    for line in census_table(counts):
        say(line)
    judged, lines = rss_lines(stack, samples)
    say("RSS (process group, /proc VmRSS; warm = after the soak's first minute):")
    for line in lines:
        say(line)
    missed = [f"{c.store}: {c.lost} of {c.expected} lost" for c in counts if c.lost]
    missed += rss_misses(judged)
    say("verdict: " + ("RSS flat" if not rss_misses(judged) else "RSS not flat")
        + (", no event lost" if not any(c.lost for c in counts) else ", events lost"))  # fmt: skip
    for miss in missed:
        say(f"  MISSED: {miss}")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=int, default=10, help="of soak (default 10)")
    parser.add_argument(
        "--window", type=float, default=WINDOW_SECONDS, help="seconds per search window (30)"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="events per request (20)")
    args = parser.parse_args(argv)
    with patched_environ(UNLIMITED):
        return with_stack(
            lambda stack, info: run(stack, info, args.minutes, args.window, args.batch)
        )


if __name__ == "__main__":
    sys.exit(main())
