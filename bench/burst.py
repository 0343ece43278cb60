"""``make bench-burst``: a burst through the whole local stack, as a new user would send it.

Starts the local stack (emulators and one functions-framework process per function, no demo
traffic, no schedules, a fresh state directory), measures each emulator alone, then sends a
generated population of 300 people (bench/population.py) through ``/v1/batch`` four requests
at a time, and reports:

- ingest request latency (p50, p99, max) and how many requests took over 2 s;
- the engaged events the identity function resolved per second (counted on a tap subscription
  of the ``events`` topic, divided by the time from the first request to every profile right);
- the time from the last request to every profile being right: each identified person's
  identifiers all resolve to one profile that holds exactly them, and anonymous visitors (cold)
  have none;
- CPU seconds per process during the burst and the drain.

Exits 1 when a target is missed (any request over 2 s or not answered 200; profiles not right
within 30 s of the last request). Everything is on loopback, and every loop is bounded.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from bench.population import Batch, Population, generate
from bench.probes import (
    MAX_REQUEST_SECONDS,
    MAX_SECONDS_TO_RIGHT,
    Latency,
    Outcome,
    firestore_alone,
    group_cpu_seconds,
    misses,
    pubsub_alone,
)
from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.pubsub import PubSubPublisher
from shared.identity.config import IdentityConfig
from shared.identity.graph import find
from shared.identity.records import identifier_set
from shared.local.processes import on_free_ports, patched_environ
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts
from shared.ports.documents import DocumentStore
from shared.topology import EVENTS

CONCURRENCY = 4
CLIENT_TIMEOUT_SECONDS = 30.0
POLL_EVERY_SECONDS = 0.5
TAP = "bench-burst-events-tap"  # a pull subscription counting what reaches identity
PROBE_TOPIC = "bench-burst-probe"  # no subscription: publishing to it wakes nothing


def post(url: str, write_key: str, body: bytes) -> tuple[int, float]:
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
    request = urllib.request.Request(url, body, headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_SECONDS) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:  # timed out or refused
        status = 0
    return status, time.perf_counter() - started


def send(population: Population, url: str, keys: dict[str, str]) -> list[tuple[int, float]]:
    """Every batch, ``CONCURRENCY`` requests in flight, in order; (status, seconds) each."""

    def one(batch: Batch) -> tuple[int, float]:
        body = json.dumps({"batch": list(batch.events)}).encode()
        return post(f"{url}/v1/batch", keys[batch.source], body)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, population.batches))


def wrong_people(population: Population, store: DocumentStore, pending: set[str]) -> set[str]:
    """The people among ``pending`` whose profiles are not right yet (first mismatch only)."""
    config = IdentityConfig()
    wrong = set()
    for person in population.people:
        if person.key not in pending:
            continue
        expected = person.identifiers(config)
        roots = set()
        for identifier in sorted(expected):
            profile = find(store, identifier)
            if person.identified:
                right = profile is not None and identifier_set(profile) == expected
            else:
                right = profile is None
            if not right:
                wrong.add(person.key)
                break
            roots.add(profile["profile_id"] if profile else None)
        if len(roots) > 1:
            wrong.add(person.key)
    return wrong


def until_right(
    population: Population, store: DocumentStore, deadline: float
) -> tuple[float | None, set[str]]:
    """Poll until every person is right (then check everyone once more); returns when that
    was, and who was still wrong at the deadline."""
    pending = {p.key for p in population.people}
    while time.monotonic() < deadline:
        pending = wrong_people(population, store, pending)
        if not pending:
            right_at = time.monotonic()
            pending = wrong_people(population, store, {p.key for p in population.people})
            if not pending:
                return right_at, set()
        time.sleep(POLL_EVERY_SECONDS)
    return None, pending


def engaged_events(project: str) -> tuple[int, int]:
    """(messages, events) published to ``events``, drained from the tap subscription."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, TAP)
    messages = events = 0
    for _ in range(1000):  # bounded: about 1,000 messages per pull at most
        answer = subscriber.pull(subscription=path, max_messages=1000, timeout=10)
        if not answer.received_messages:
            break
        for received in answer.received_messages:
            messages += 1
            events += len(json.loads(received.message.data).get("events", []))
        subscriber.acknowledge(
            subscription=path, ack_ids=[r.ack_id for r in answer.received_messages]
        )
    subscriber.close()
    return messages, events


def create_probes(project: str) -> None:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=publisher.topic_path(project, PROBE_TOPIC))
    subscriber.create_subscription(
        name=subscriber.subscription_path(project, TAP),
        topic=publisher.topic_path(project, EVENTS),
    )
    subscriber.close()


def emulators_alone(project: str) -> list[str]:
    lines = []
    store = FirestoreDocumentStore(project)
    for what, latency in firestore_alone(store).items():
        lines.append(f"  Firestore emulator alone, {what}: {latency.ms()}")
    for what, latency in pubsub_alone(PubSubPublisher(project), PROBE_TOPIC).items():
        lines.append(f"  Pub/Sub emulator alone, {what}: {latency.ms()}")
    return lines


def run(
    stack: LocalStack, info: dict[str, Any], population: Population
) -> tuple[Outcome, list[str]]:
    project, url, keys = info["project_id"], info["ingest_url"], info["write_keys"]
    people, requests = len(population.people), len(population.batches)
    lines = [
        f"burst: {population.events:,} events from {people} people in {requests} requests, "
        f"{CONCURRENCY} at a time"
    ]
    create_probes(project)
    lines += emulators_alone(project)
    idle = [post(f"{url}/v1/batch", keys["web"], b'{"batch": []}')[1] for _ in range(20)]
    lines.append(f"  ingest alone (empty batch, idle stack): {Latency.of(idle).ms()}")
    groups = {p.process.pid: p.name for p in stack.processes}
    cpu_before = group_cpu_seconds(groups)
    started = time.monotonic()
    answers = send(population, url, keys)
    last = time.monotonic()
    store = FirestoreDocumentStore(project)
    right_at, wrong = until_right(population, store, last + MAX_SECONDS_TO_RIGHT + 30)
    drained = time.monotonic()
    cpu = group_cpu_seconds(groups)
    seconds = [s for _, s in answers]
    outcome = Outcome(
        requests=len(answers),
        failed_requests=sum(status != 200 for status, _ in answers),
        slow_requests=sum(s > MAX_REQUEST_SECONDS for s in seconds),
        seconds_to_right=None if right_at is None else right_at - last,
    )
    messages, events = engaged_events(project)
    lines.append(
        f"  ingest during the burst: {Latency.of(seconds).ms()}; {outcome.slow_requests} over "
        f"{MAX_REQUEST_SECONDS:g} s, {outcome.failed_requests} not 200; "
        f"burst sent in {last - started:.1f} s"
    )
    if right_at is None:
        lines.append(f"  profiles: {len(wrong)} people still wrong {drained - last:.0f} s after")
    else:
        rate = events / (right_at - started)
        lines.append(f"  profiles: all right {right_at - last:.1f} s after the last request")
        lines.append(
            f"  identity: {events:,} engaged events in {messages} messages, {rate:,.0f} events/s "
            "(first request to every profile right)"
        )
    used = {name: cpu[pid] - cpu_before.get(pid, 0.0) for pid, name in groups.items()}
    span = drained - started
    lines.append(
        f"  CPU seconds over the {span:.0f} s of burst and drain (2 cores = {2 * span:.0f}):"
    )
    for name, spent in sorted(used.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {name}: {spent:.1f}")
    logs = Path(info["state_dir"]) / "logs"
    for name in ("identity", "ingest"):
        errors = (logs / f"{name}.log").read_text(errors="replace").count("Traceback")
        lines.append(f"  {name}: {errors} tracebacks in its log (a 500 each: a redelivery)")
    return outcome, lines


def with_stack(body: Callable[[LocalStack, dict[str, Any]], int]) -> int:
    state = Path(tempfile.mkdtemp(prefix="cdp-burst-"))
    stacks: list[LocalStack] = []

    def start() -> dict[str, Any]:
        config = StackConfig(ports=StackPorts.free(), state_dir=state, run_schedules=False)
        stacks.append(LocalStack(config))
        return stacks[-1].start()

    try:
        info = on_free_ports(start)
        with patched_environ(info["environment"]):
            return body(stacks[-1], info)
    finally:
        if stacks:
            stacks[-1].stop()
        shutil.rmtree(state, ignore_errors=True)


def main() -> int:
    population = generate()

    def burst(stack: LocalStack, info: dict[str, Any]) -> int:
        outcome, lines = run(stack, info, population)
        for line in lines:
            print(line, flush=True)
        missed = misses(outcome)
        for miss in missed:
            print(f"  MISSED: {miss}", flush=True)
        return 1 if missed else 0

    return with_stack(burst)


if __name__ == "__main__":
    sys.exit(main())
