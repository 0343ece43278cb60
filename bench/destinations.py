"""Delivery throughput per destination against its local stand-in, and the consent decision's
cost per event, each against a baseline measured in the same run.

Per destination: its stand-in on 127.0.0.1, in a process of its own (its checks would otherwise
share this process's GIL with the code measured), its settings built from the stand-in's
environment, a ``Runner`` on the real ``HttpxSender`` (fakes for the publisher and the ledger's
store) delivering live messages of 100 events the destination takes, each with its person's
consent and traits in ``meta`` as identity sends them. A first round checks that every event is
delivered exactly once and the stand-in refused nothing (else ``ContractViolation``: exit 1).
Then each message is timed through the runner and, right after it, the very requests the runner
sent are timed again from a bare ``HttpxSender`` loop: the ratio is the framework's cost over
raw HTTP (filter, consent, ledger, transform, verdicts), and a load spike hits both alike.

Slack is timed with its 1-message-per-second pacing patched out (``sleep`` a no-op), then a few
events with it on, to show the pace holds.

    python -m bench.destinations
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import httpx

from shared.adapters.http import HttpxSender
from shared.destinations.filters import EventFilter
from shared.destinations.framework import Event, Person
from shared.destinations.registry import build, transform_class
from shared.destinations.runner import Delivery, Runner, people_of
from shared.envelope import Envelope
from shared.local import standins
from shared.local.processes import patched_environ
from shared.local.standins.base import CONTROL
from shared.local.webhook_standin import WebhookStandIn, function_environment
from shared.ports.clock import SystemClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import HttpRequest, HttpResponse, HttpSender
from shared.ports.publisher import InMemoryPublisher

NAMES = ("amplitude", "intercom", "meta", "appsflyer", "firebase", "slack", "webhook")
MESSAGE = 100
EVENTS = 1000
SLACK_EVENTS, PACED = 200, 3  # Slack is paced at 1 message/s by design
ROUNDS = 3
CONSENT_EVENTS = 200_000
USERS = 50
CONSENT = {"advertising": True, "analytics": True, "functional": True, "marketing": False}
KINDS = {  # the call types each destination takes by default, in a fixed mix
    "amplitude": ("track",) * 7 + ("page",) * 2 + ("identify",),
    "intercom": ("track",) * 9 + ("identify",),
    "firebase": ("track",) * 7 + ("page",) * 3,
    "webhook": ("track",) * 7 + ("page",) * 2 + ("identify",),
}
TRACKS = ("Product Viewed", "card_activated", "Order Completed")
PAGE = {"url": "https://shop.example/pricing", "path": "/pricing", "title": "Pricing"}
WEB = {"library": {"name": "analytics.js", "version": "5.2.0"}, "ip": "203.0.113.9",
       "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "de-DE", "page": PAGE}  # fmt: skip
IOS = {"library": {"name": "analytics-ios"}, "os": {"name": "iOS", "version": "17.4"},
       "app": {"namespace": "com.example.cdp", "version": "2.1", "build": "210"},
       "device": {"advertisingId": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
                  "id": "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D", "adTrackingEnabled": True},
       "ip": "203.0.113.9"}  # fmt: skip


class ContractViolation(Exception):
    """A stand-in refused a request, or an event was not delivered exactly once."""


def events(name: str, count: int, now: datetime) -> list[Event]:
    """``count`` events destination ``name`` takes by default: one user of ``USERS`` each, an
    identify a new person each (so Intercom's contact keys stay distinct), one second apart (so
    are Intercom's data-event keys), a few minutes old (inside Meta's and GA4's windows)."""
    kinds = KINDS.get(name, ("track",))
    out = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        user = f"member-{n:06d}" if kind == "identify" else f"user-{n % USERS:03d}"
        when = (now - timedelta(seconds=300 + n)).isoformat(timespec="milliseconds")
        event: Event = {"type": kind, "messageId": f"bench-{name}-{n:06d}", "userId": user,
                        "anonymousId": f"anon-{user}", "timestamp": when.replace("+00:00", "Z"),
                        "context": IOS if name == "appsflyer" else WEB}  # fmt: skip
        if name == "appsflyer":
            af_id = f"1415211453000-{n % USERS:07d}"
            event["context"] = {**IOS, "externalIds": [{"id": af_id, "type": "appsflyer_id"}]}
        if kind == "track":
            event["event"] = "subscription_cancelled" if name == "slack" else TRACKS[n % 3]
            event["properties"] = {"plan": "pro", "step": n % 7}
            if event["event"] == "Order Completed":
                event["properties"] |= {"order_id": f"o-{n}", "revenue": 12.5, "currency": "EUR"}
        elif kind == "page":
            event["name"] = "Pricing"
            event["properties"] = {"url": PAGE["url"], "path": PAGE["path"]}
        else:
            event["traits"] = {"email": f"{user}@example.com", "first_name": "Ann", "plan": "pro"}
        out.append(event)
    return out


def envelopes(batch: Sequence[Event], size: int = MESSAGE) -> list[Envelope]:
    """Live messages as identity publishes them: each event's person, consent and traits."""
    out = []
    for start in range(0, len(batch), size):
        chunk = list(batch[start : start + size])
        profile_of = [f"p-{e['userId']}" for e in chunk]
        people = {pid: {"consent": CONSENT, "traits": {"first_name": "Ann", "plan": "pro"}}
                  for pid in profile_of}  # fmt: skip
        key = f"bench-message-{start // size}"
        meta = {"people": people, "profile_of": profile_of, "source_message": key}
        out.append(Envelope("events", chunk, {"kind": "events"}, message_id=key, meta=meta))
    return out


class Recording(HttpSender):
    """Sends through ``inner`` and keeps each request, for the bare loop to send again."""

    def __init__(self, inner: HttpSender) -> None:
        self.inner, self.requests = inner, list[HttpRequest]()

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.inner.send(request)


@dataclass
class Target:
    """A stand-in serving from a process of its own (so it does not share this one's GIL), seen
    over HTTP the same way whichever kind it is: what it listed since the last ``mark``."""

    environment: dict[str, str]
    control: str  # GET lists what it accepted, delivered and refused
    webhook: bool
    _marks: dict[str, int] = field(default_factory=dict)

    def _listing(self) -> dict[str, list[Any]]:
        listing: dict[str, list[Any]] = httpx.get(self.control, timeout=30).json()
        return {k: v[self._marks.get(k, 0) :] for k, v in listing.items() if isinstance(v, list)}

    def mark(self) -> None:
        self._marks = {k: self._marks.get(k, 0) + len(v) for k, v in self._listing().items()}

    def refused(self) -> list[Any]:
        """Refusals (and AppsFlyer's silent drops) since the mark."""
        listing = self._listing()
        return [*listing.get("rejected", []), *listing.get("refused", []),
                *listing.get("dropped", [])]  # fmt: skip

    def keys(self) -> list[str]:
        """The dedup key of every event delivered since the mark."""
        listing = self._listing()
        if self.webhook:
            return [str(e["messageId"]) for body in listing["accepted"] for e in body["batch"]]
        return [str(e.get("key")) for e in listing["delivered"]]


def _serve(name: str, pipe: Connection) -> None:
    """The stand-in's process: start it, say where it is, serve until the pipe closes."""
    if name == "webhook":
        hook = WebhookStandIn(secret="bench-secret")
        url = hook.start()
        pipe.send((function_environment(url, hook.secret), url))
    else:
        standin, environment = standins.start(name)
        pipe.send((environment, f"{standin.url}{CONTROL}"))
    with contextlib.suppress(EOFError):
        pipe.recv()


@contextmanager
def started(name: str) -> Iterator[Target]:
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(name, theirs), daemon=True)
    process.start()
    try:
        environment, control = ours.recv()
        yield Target(environment, control, name == "webhook")
    finally:
        ours.close()
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join()


@dataclass
class Figures:
    name: str
    events: int
    requests: int
    ours: float  # events/s through the runner
    bare: float  # events/s of the bare loop over the same requests
    note: str = ""


def _runner(name: str, target: Target, http: HttpSender, paced: bool = False) -> Runner:
    with patched_environ(target.environment):
        settings = transform_class(name).settings_class()
    clock = SystemClock()
    return Runner(build(name, clock, settings), http=http, clock=clock,
                  publisher=InMemoryPublisher(), documents=InMemoryDocumentStore(),
                  sleep=time.sleep if paced else lambda _seconds: None)  # fmt: skip


def _deliver(runner: Runner, messages: list[Envelope]) -> tuple[float, list[Delivery]]:
    started_at = time.perf_counter()
    done = [runner.handle(m) for m in messages]
    return time.perf_counter() - started_at, done


def _verify(
    name: str, target: Target, sent: list[Event], done: list[Delivery], copies: int = 1
) -> None:
    """The runner delivered every event (``copies`` times: the bare loop sends each once more)
    and the stand-in refused nothing and received each event's key ``copies`` times."""
    ids = Counter(str(e["messageId"]) for e in sent)
    delivered = Counter(m for d in done for m in d.delivered)
    kept = {"filtered": sum(d.filtered for d in done), "already": sum(d.already for d in done),
            "skipped": sum(len(d.skipped) for d in done),
            "refused": sum(len(d.refused) for d in done)}  # fmt: skip
    refused, keys = target.refused(), Counter(target.keys())
    problems = [f"kept back {kept}"] if any(kept.values()) else []
    if refused:
        problems.append(f"the stand-in refused {len(refused)}: {refused[0]}")
    rounds = len(done) // -(-len(sent) // MESSAGE)  # messages per round
    if delivered != Counter({m: rounds for m in ids}):
        problems.append(f"the runner delivered {delivered.total()} for {ids.total()} events")
    by_message_id = name != "intercom"  # Intercom's key: contact, name and created_at
    expected = ids if by_message_id else Counter(dict.fromkeys(keys, 1))
    if keys != Counter({k: copies for k in expected}) or len(keys) != len(ids):
        problems.append(f"the stand-in got {keys.total()} keys, {len(keys)} distinct, for "
                        f"{ids.total()} events sent {copies} times")  # fmt: skip
    if problems:
        raise ContractViolation(f"{name}: " + "; ".join(problems))


def measure(name: str, count: int, rounds: int = ROUNDS) -> Figures:
    """A first round checks the runner alone delivers every event once (and warms up). Then
    ``rounds`` rounds time each message through the runner and right after it the bare loop
    over the requests the runner just sent, so a load spike hits both alike; the best round of
    each counts. Each sender is created once and kept, as a function instance keeps its client."""
    sent = events(name, count, datetime.now(UTC))
    messages = envelopes(sent)
    best = {"ours": 0.0, "bare": 0.0}
    with started(name) as target:
        runner_http, raw = HttpxSender(), HttpxSender()
        recording = Recording(runner_http)
        target.mark()
        _verify(name, target, sent, _deliver(_runner(name, target, recording), messages)[1])
        requests = len(recording.requests)
        target.mark()
        done: list[Delivery] = []
        for _ in range(rounds):
            recording, took = Recording(runner_http), {"ours": 0.0, "bare": 0.0}
            runner = _runner(name, target, recording)
            for message in messages:
                first, started_at = len(recording.requests), time.perf_counter()
                done.append(runner.handle(message))
                middle = time.perf_counter()
                for request in recording.requests[first:]:
                    raw.send(request)
                took["ours"] += middle - started_at
                took["bare"] += time.perf_counter() - middle
            best = {k: max(v, count / took[k]) for k, v in best.items()}
        _verify(name, target, sent, done, copies=2 * rounds)
        paced = type(runner.transform).min_interval_seconds
        note = _paced(name, target) if paced else ""
    return Figures(name, count, requests, best["ours"], best["bare"], note)


def _paced(name: str, target: Target, count: int = PACED) -> str:
    """The same delivery with the pacing on, ``count`` events (one message each)."""
    sent = events(name, count, datetime.now(UTC))
    target.mark()
    seconds, done = _deliver(_runner(name, target, HttpxSender(), paced=True), envelopes(sent))
    _verify(name, target, sent, done)
    return (f"paced as by design: {count} events in {seconds:.2f} s, "
            f"{(count - 1) / seconds:.2f} messages/s after the first")  # fmt: skip


def consent_cost(count: int = CONSENT_EVENTS) -> tuple[float, float, float]:
    """ns per event: ``EventFilter.admits`` with a consent category and the person's consent,
    a trivial call in the same loop, and reading the people from a message (``people_of``)."""
    sent = events("amplitude", 2000, datetime.now(UTC))
    for n, event in enumerate(sent[::2]):  # half carry the device's own choice
        own = {"categoryPreferences": {"analytics": n % 9 != 0}}
        event["context"] = {**event["context"], "consent": own}
    people = [Person(f"p-{e['userId']}", CONSENT, {}) for e in sent]
    pairs = list(zip(sent, people, strict=True)) * (count // len(sent))
    flt = EventFilter.of(("track", "identify", "page"), (), "analytics")

    def trivial(event: Event, person: Person) -> bool:
        return True

    took = {"admits": [0.0] * ROUNDS, "trivial": [0.0] * ROUNDS}
    for n in range(ROUNDS):  # alternating every 2,000 events: a load spike hits both alike
        for start in range(0, len(pairs), len(sent)):
            chunk = pairs[start : start + len(sent)]
            for key, decide in (("admits", flt.admits), ("trivial", trivial)):
                started_at = time.perf_counter()
                for event, person in chunk:
                    decide(event, person)
                took[key][n] += time.perf_counter() - started_at
    best = {key: min(times) / len(pairs) * 1e9 for key, times in took.items()}
    messages = envelopes(sent)
    started_at = time.perf_counter()
    for message in messages:
        people_of(message)
    read = (time.perf_counter() - started_at) / len(sent) * 1e9
    return best["admits"], best["trivial"], read


def run() -> Iterator[str]:
    """Result lines, as they are measured; raises ContractViolation when a stand-in refused
    anything or an event was not delivered exactly once."""
    yield (f"destinations: the Runner (filter, consent, ledger, transform, verdicts) on "
           f"HttpxSender vs a bare HttpxSender loop sending the same requests, to each "
           f"provider's stand-in on 127.0.0.1 in a process of its own; messages of {MESSAGE} "
           f"events, best of {ROUNDS} alternating rounds")  # fmt: skip
    yield (f"{'destination':<12} {'events':>6} {'events/s':>9} {'bare':>9} {'ratio':>6} "
           f"{'requests/1,000 events':>22}  stand-in")  # fmt: skip
    notes = []
    for name in NAMES:
        f = measure(name, SLACK_EVENTS if name == "slack" else EVENTS)
        label = f"{name}*" if f.note else name
        notes += [f"* {name}: pacing patched out above; {f.note}"] if f.note else []
        yield (f"{label:<12} {f.events:>6,} {f.ours:>9,.0f} {f.bare:>9,.0f} "
               f"{f.ours / f.bare:>6.0%} {f.requests * 1000 / f.events:>22,.0f}  "
               f"refused 0, every event delivered once")  # fmt: skip
    yield from notes
    admits, trivial, read = consent_cost()
    yield (f"consent decision: EventFilter.admits {admits:,.0f} ns/event vs a trivial call "
           f"{trivial:,.0f} ns/event ({admits / trivial:.1f}x) over {CONSENT_EVENTS:,} events; "
           f"reading each event's person from the message (people_of) {read:,.0f} ns/event; "
           f"no store read")  # fmt: skip


def main() -> int:
    try:
        for line in run():
            print(line, flush=True)
    except ContractViolation as violation:
        print(f"destinations: CONTRACT VIOLATION: {violation}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
