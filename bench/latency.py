"""``python -m bench.latency``: how long an event takes from its request to each store, on the
whole local stack under a moderate steady load.

Starts the local stack (no schedules, fresh state), warms it for a few seconds, then sends
identified engaged web events (``bench.steady``: a third identifies carrying a probe trait, the
rest ``card_activated`` tracks, each with a unique messageId and the send time as timestamp) at
``--rate`` events/s in ``/v1/batch`` requests of ``--batch``, for ``--seconds``, and reports
p50/p95/p99 from the send of each event's request to:

- its profile: the identify's trait on the profile (Firestore's commit time of that write,
  read after the load; only each user's last identify, the one the profile keeps);
- each destination stand-in that records messageIds (Amplitude's insert_id, Meta's event_id,
  Firebase's message ids, the webhook's batch): when the stand-in recorded it (read every 20 ms
  in this process; the stand-ins keep no receive time), and Intercom's, whose stand-in keys
  a track by contact, name and second (``intercom_arrivals``);
- its warehouse row in ``cdp_raw.events``: the row's ``loaded_at`` (the loader's time before
  its insert), read after the load;
- on the way, for where the time goes: its publish to ``events`` (ingest) and to
  ``profiled-events`` (identity), Pub/Sub's publish_time on a tap subscription.

Exits 1 when p95 to the profile or to any of those destinations is 2 s or more, or when some
of their events never arrived within ``--settle`` seconds. Slack is left out (paced at one
message a second by design, and it takes alerts, not these events), and so is AppsFlyer (it
takes only mobile events with an appsflyer_id). Every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.arrivals import (
    PublishTap,
    StandinWatch,
    profile_commits,
    stored_count,
    warehouse_loaded,
)
from bench.burst import with_stack
from bench.figures import PathLatency, latency_misses, latency_table, path_latency
from bench.probes import Latency, group_cpu_seconds
from bench.steady import Load, Sent, drive
from shared.adapters.bigquery import BigQueryWarehouse
from shared.destinations.registry import transform_class
from shared.local.stack import LocalStack
from shared.topology import EVENTS, PROFILED_EVENTS

DESTINATIONS = ("amplitude", "meta", "firebase", "webhook")  # stand-ins keyed by messageId
INTERCOM = "intercom"  # keyed by contact, event name and second (as Intercom dedupes)
PROFILE = "event -> profile (identify's trait)"
WAREHOUSE = "event -> warehouse row (loaded_at)"
WARM_SECONDS = 5.0


def destination_path(name: str) -> str:
    return f"event -> {name} stand-in"


def expected(name: str, load: Load, numbers: dict[str, int]) -> set[str]:
    """The sent events destination ``name`` takes: its transform's call types (none: all)."""
    types = transform_class(name).event_types
    return {mid for mid, n in numbers.items() if not types or load.kind(n) in types}


def intercom_arrivals(
    first: dict[str, float], load: Load, numbers: dict[str, int], at: dict[str, float]
) -> tuple[set[str], dict[str, float]]:
    """Intercom's stand-in records a track as ``<user>|<event>|<created_at second>``, not by
    messageId; within a second one user sends at most one track here (a user's events are
    ``load.users`` events apart), so that key names one event. (The tracks, their arrivals.)"""
    keys = {
        f"{load.user(n)}|card_activated|{int(at[mid])}": mid
        for mid, n in numbers.items()
        if load.kind(n) == "track"
    }
    return set(keys.values()), {keys[k]: t for k, t in first.items() if k in keys}


def last_identifies(load: Load, numbers: dict[str, int]) -> dict[str, str]:
    """Each user's last identify (messageId -> user): a profile shows only the latest trait, so
    an identify its user sent again later can never be seen there and is not expected."""
    last: dict[str, str] = {}
    for mid, n in sorted(numbers.items(), key=lambda item: item[1]):
        if load.kind(n) == "identify":
            last[load.user(n)] = mid
    return {mid: user for user, mid in last.items()}


def settle(done: Callable[[], bool], seconds: float, every: float = 2.0) -> float:
    """Wait until ``done()``, at most ``seconds``; how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds and not done():
        time.sleep(every)
    return time.monotonic() - started


def measure(
    stack: LocalStack, info: dict[str, Any], args: argparse.Namespace
) -> tuple[list[PathLatency], list[str]]:
    project, url, key = info["project_id"], info["ingest_url"], info["write_keys"]["web"]
    run = uuid.uuid4().hex[:8]
    drive(url, key, Load(f"{run}w", batch=args.batch), args.rate, WARM_SECONDS)
    load = Load(run, users=500, batch=args.batch)
    prefix = f"{run}-"
    bq = BigQueryWarehouse(project, "EU", info["environment"]["CDP_BIGQUERY_ENDPOINT"])
    taps = {topic: PublishTap(project, topic, prefix) for topic in (EVENTS, PROFILED_EVENTS)}
    standins = StandinWatch(stack, prefix).start()
    groups = {p.process.pid: p.name for p in stack.processes}
    cpu_before, own_before, started = group_cpu_seconds(groups), _own_cpu(), time.monotonic()
    try:
        sent: list[Sent] = drive(url, key, load, args.rate, args.seconds)
        at = {mid: s.wall for s in sent if s.status == 200 for mid in s.ids}
        numbers = {mid: int(mid.rsplit("-", 1)[1]) for mid in at}
        users = last_identifies(load, numbers)
        wanted = {name: expected(name, load, numbers) for name in DESTINATIONS}

        def intercom() -> tuple[set[str], dict[str, float]]:
            return intercom_arrivals(standins.first.get(INTERCOM, {}), load, numbers, at)

        def arrived() -> bool:
            standins.step()
            tracks, got = intercom()
            return (
                all(wanted[n] <= standins.first.get(n, {}).keys() for n in DESTINATIONS)
                and tracks <= got.keys()
                and stored_count(bq, project, "cdp_raw.events", prefix) >= len(at)
            )

        waited = settle(arrived, args.settle)
    finally:
        standins.stop()
    cpu, span = group_cpu_seconds(groups), time.monotonic() - started
    used = {name: cpu[pid] - cpu_before.get(pid, 0.0) for pid, name in groups.items()}
    used["this process (load, stand-ins)"] = _own_cpu() - own_before
    profiles = profile_commits(project, users)
    paths = [
        path_latency(PROFILE, at, profiles, users),
        *(
            path_latency(destination_path(n), at, standins.first.get(n, {}), wanted[n])
            for n in DESTINATIONS
        ),
        path_latency(destination_path(INTERCOM), at, intercom()[1], intercom()[0]),
        *(path_latency(f"event -> {t} topic", at, tap.published(), at) for t, tap in taps.items()),
        path_latency(WAREHOUSE, at, warehouse_loaded(bq, project, prefix), at),
    ]
    seconds = [s.seconds for s in sent]
    lines = [
        f"latency: {len(at):,} events accepted of {sum(len(s.ids) for s in sent):,} sent, "
        f"{args.rate:g} events/s in requests of {args.batch} for {args.seconds:g} s "
        f"(after {WARM_SECONDS:g} s of warm-up); then waited {waited:.0f} s for arrivals",
        f"  ingest request latency: {Latency.of(seconds).ms()}",
        *latency_table(paths),
        f"  CPU seconds over the {span:.0f} s of load and wait (2 cores = {2 * span:.0f}): "
        + ", ".join(f"{n} {c:.1f}" for n, c in sorted(used.items(), key=lambda kv: -kv[1])),
        "  (topics: Pub/Sub's publish_time, for where the time goes; the BigQuery emulator",
        "  inserts about 600 rows/s, so the warehouse path is the emulator's, not BigQuery's)",
    ]
    return paths, lines


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=30.0, help="events/s (default 30)")
    parser.add_argument("--batch", type=int, default=20, help="events per request (20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="of load (60)")
    parser.add_argument("--settle", type=float, default=60.0, help="max wait after (60)")
    args = parser.parse_args(argv)

    def body(stack: LocalStack, info: dict[str, Any]) -> int:
        paths, lines = measure(stack, info, args)
        for line in lines:
            print(line, flush=True)
        judged = [PROFILE, *(destination_path(n) for n in (*DESTINATIONS, INTERCOM))]
        missed = latency_misses(paths, judged)
        for miss in missed:
            print(f"  MISSED: {miss}", flush=True)
        return 1 if missed else 0

    return with_stack(body)


if __name__ == "__main__":
    sys.exit(main())
