"""The ingest use case: one HTTP request in, its events published, one answer out.

Order matters for cost and safety: the body is bounded before it is parsed, the source is known
before any event is looked at, the rate limit is spent before the events are checked, every
accepted event passes governance (suppression, PII guard, tracking plan) before it is written
once as JSON, and messageIds are remembered only after Pub/Sub accepted the message that holds
them. ``reenter`` is the same path from governance on, for events ingest accepted before (a
replay of blocked events keeps their messageId, receivedAt and source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from shared.envelope import dumps, encode, encode_serialized
from shared.errors import BadRequest, MethodNotAllowed, NotFound
from shared.governance.gate import BLOCKED, SUPPRESSED, Found, Gate, findings_meta
from shared.ingest.body import decompress, parse_body
from shared.ingest.config import IngestSettings
from shared.ingest.dedup import Key, RecentIds
from shared.ingest.events import PATH_TYPES, Arrival, Event, TimeBounds, aware, enrich, scrub
from shared.ingest.failures import Rejected, blocked, check_mapped, failure, payload_of
from shared.ingest.ratelimit import RateLimiter
from shared.ingest.rules import Limits, check_all, check_stored
from shared.ingest.sources import SourceRegistry, write_key_of
from shared.ingest.webhooks import WEBHOOK_PATHS, from_customerio
from shared.ports.clock import Clock
from shared.ports.publisher import OutboundMessage, Publisher
from shared.settings import Settings, Source
from shared.tiering.router import TierRouter
from shared.topology import COLD_EVENTS, EVENTS, FAILED_EVENTS

BATCH_PATHS = ("batch", "b", "import")
NOT_A_LIST = "batch must be a JSON array of events."
UNKNOWN_PATH = "No such endpoint: {path}."
ALLOW = "POST, OPTIONS"  # OPTIONS is the CORS preflight, answered at the edge
NOT_ALLOWED = "Method {method} not allowed: send events with POST."
NOT_FORWARDED = "writeKey"  # a secret: never copied into events downstream
_NEEDS_SCRUB = re.compile(rb"\\u(0000|[dD][89a-fA-F])")
_TIME = TypeAdapter(datetime)
_orjson_dumps = orjson.dumps


@dataclass(frozen=True)
class IngestRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass
class IngestResult:
    accepted: int = 0
    failed: int = 0
    duplicates: int = 0
    published: list[str] = field(default_factory=list)
    suppressed: int = 0  # a privacy request's person: dropped, stored nowhere
    flagged: int = 0  # accepted with tracking-plan findings (in the message's metadata)


@dataclass
class _Admitted:
    """What one request's events became at the governance stop."""

    good: list[Event] = field(default_factory=list)
    texts: list[bytes] = field(default_factory=list)  # good[i] as JSON, written once
    findings: dict[str, tuple[Found, ...]] = field(default_factory=dict)  # by messageId
    bad: list[dict[str, Any]] = field(default_factory=list)
    suppressed: int = 0


@dataclass(frozen=True)
class Route:
    kind: str  # "call" | "batch" | "webhook"
    name: str


def route_of(path: str) -> Route:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "v1":
        if parts[-1] in PATH_TYPES:
            return Route("call", PATH_TYPES[parts[-1]])
        if parts[-1] in BATCH_PATHS:
            return Route("batch", parts[-1])
    if len(parts) >= 3 and parts[-3:-1] == ["v1", "webhooks"] and parts[-1] in WEBHOOK_PATHS:
        return Route("webhook", WEBHOOK_PATHS[parts[-1]])
    raise NotFound(UNKNOWN_PATH.format(path=path))


def _sent_at(body: dict[str, Any]) -> datetime | None:
    try:
        return aware(_TIME.validate_python(body.get("sentAt")))
    except ValidationError:
        return None


class IngestHandler:
    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        clock: Clock,
        ingest: IngestSettings | None = None,
        tiers: TierRouter | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._settings = settings
        self._gate = gate or Gate()
        self._config = ingest or IngestSettings()
        self._publisher = publisher
        self._clock = clock
        self._tiers = tiers
        self._sources = SourceRegistry(settings.sources)
        self._limiter = RateLimiter(clock, self._config.rate_of)
        self._recent = RecentIds(
            clock, self._config.dedup_window_seconds, self._config.dedup_max_ids
        )
        self._bounds = TimeBounds(
            future=timedelta(seconds=self._config.max_future_seconds),
            past=timedelta(days=self._config.max_past_days),
        )
        self._limits = Limits(self._settings.max_event_bytes, self._config.max_depth)

    def handle(self, request: IngestRequest) -> IngestResult:
        if request.method != "POST":  # on every path: the method is refused before the route
            raise MethodNotAllowed(NOT_ALLOWED.format(method=request.method), allow=ALLOW)
        route = route_of(request.path)
        limit = self._settings.max_batch_bytes
        if route.kind != "batch":
            limit = self._settings.max_event_bytes
        raw = decompress(request.body, request.headers.get("content-encoding", ""), limit)
        body = parse_body(raw, request.headers.get("content-type", ""))
        source = self._sources.resolve(write_key_of(request.headers, request.query, body))
        events = self._events_of(route, body)
        self._limiter.take(source.id, len(events))
        if raw.find(b"\\") >= 0 and _NEEDS_SCRUB.search(raw):  # no backslash: no escape
            events = scrub(events)
        arrival = Arrival.of(source, self._clock.now(), _sent_at(body), self._bounds)
        checked = (
            check_all(events) if route.kind != "webhook" else [check_mapped(e) for e in events]
        )
        accepted: list[Event] = []
        bad: list[dict[str, Any]] = []
        suppressed = 0
        for event, call in zip(events, checked, strict=True):
            if not isinstance(call, str):
                accepted.append(enrich(event, call, arrival))
            elif self._gate.suppressed(payload_of(event)):  # a deleted person's: kept nowhere
                suppressed += 1
            else:  # kept as sent, but never with a card number in it
                bad.append(failure(event, call, source, arrival.received_iso, self._gate.scrub))
        admitted = self._admit_all(accepted, source)
        admitted.bad[:0] = bad
        admitted.suppressed += suppressed
        return self._publish(source, admitted)

    def reenter(self, source: Source, events: list[Event]) -> IngestResult:
        """Events ingest accepted before (e.g. blocked ones, replayed after a plan fix) through
        governance with the current plan, tiering and publishing; messageId, receivedAt and the
        source stay as they were."""
        return self._publish(source, self._admit_all(events, source))

    def _admit_all(self, events: list[Event], source: Source) -> _Admitted:
        texts = _written(events)  # each written once: measured, published as is
        admitted = _Admitted()
        verdicts = self._gate.admit_all(events, texts, source.id, source.kind)
        good, good_texts, findings = admitted.good, admitted.texts, admitted.findings
        limits = self._limits
        most, deepest = limits.max_event_bytes, limits.max_depth
        for outcome, event, text, flagged, blocking in verdicts:
            if outcome == SUPPRESSED:
                admitted.suppressed += 1
            elif outcome == BLOCKED:
                found = blocking + flagged
                admitted.bad.append(blocked(event, found, source, self._gate.plan_version))
            elif (  # check_stored, inline for the usual event that no stored rule can refuse:
                # small enough, and fewer brackets than the depth limit
                len(text) > most or text.count(b"{") + text.count(b"[") >= deepest
            ) and (problem := check_stored(event, limits, text)):
                received = str(event.get("receivedAt") or "")
                admitted.bad.append(failure(event, problem, source, received))
            else:
                good.append(event)
                good_texts.append(text)
                if flagged:
                    findings[str(event["messageId"])] = flagged
        return admitted

    def _events_of(self, route: Route, body: dict[str, Any]) -> list[Any]:
        if route.kind == "webhook":
            mapped = from_customerio(body)
            return [mapped if isinstance(mapped, dict) else Rejected(mapped, body)]
        if route.kind == "call":
            return [_forwarded({**body, "type": route.name})]
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise BadRequest(NOT_A_LIST)
        shared = {k: body[k] for k in ("context", "integrations") if isinstance(body.get(k), dict)}
        if shared:
            batch = [_merge_batch_level(event, shared) for event in batch]
        return [_forwarded(event) for event in batch]

    def _publish(self, source: Source, admitted: _Admitted) -> IngestResult:
        good, texts, bad = admitted.good, admitted.texts, admitted.bad
        keys: list[Key] = [(source.id, str(e["messageId"])) for e in good]
        fresh = self._recent.claim(keys)
        new, new_texts, claimed = good, texts, keys  # the usual case: every key fresh, once
        if len(fresh) < len(keys):
            new, new_texts, claimed = [], [], []
            for event, text, key in zip(good, texts, keys, strict=True):
                if key in fresh:
                    fresh.discard(key)  # a second copy inside the same batch is a duplicate too
                    new.append(event)
                    new_texts.append(text)
                    claimed.append(key)
        cold = [False] * len(new)
        if new and self._tiers is not None:  # engaged → events, cold → cold-events
            cold = self._tiers.decide(new, source).cold
        messages: list[OutboundMessage] = []
        if new and not any(cold):  # the usual request: one message, the texts as they are
            meta = self._meta(admitted, new)
            messages.append(
                encode_serialized(EVENTS, "events", new_texts, meta, source_id=source.id)
            )
        else:
            engaged = [i for i, c in enumerate(cold) if not c]
            chilled = [i for i, c in enumerate(cold) if c]
            for topic, kind, picked in (
                (EVENTS, "events", engaged),
                (COLD_EVENTS, "cold", chilled),
            ):
                if picked:
                    meta = self._meta(admitted, [new[i] for i in picked])
                    texts_ = [new_texts[i] for i in picked]
                    messages.append(
                        encode_serialized(topic, kind, texts_, meta, source_id=source.id)
                    )
        if bad:
            messages.append(encode(FAILED_EVENTS, "failed", bad, source_id=source.id))
        try:
            published = self._publisher.publish(messages) if messages else []
        except Exception:
            self._recent.release(claimed)
            raise
        self._recent.commit(claimed)
        findings = admitted.findings
        flagged = sum(1 for e in new if str(e["messageId"]) in findings) if findings else 0
        duplicates = len(good) - len(new)
        return IngestResult(len(new), len(bad), duplicates, published, admitted.suppressed, flagged)

    def _meta(self, admitted: _Admitted, events: list[Event]) -> dict[str, Any] | None:
        """The flagged findings of these events, as message metadata (None: nothing flagged)."""
        if not admitted.findings:
            return None
        found = [
            (str(e["messageId"]), admitted.findings.get(str(e["messageId"]), ())) for e in events
        ]
        return findings_meta(found, self._gate.plan_version) or None


def _written(events: list[Event]) -> list[bytes]:
    """``[dumps(e) for e in events]`` without a call per event but orjson's own; a batch that
    orjson cannot write (an integer past 64 bits) is written event by event by ``dumps``."""
    try:
        return [_orjson_dumps(e, default=str) for e in events]
    except TypeError:
        return [dumps(e) for e in events]


def _forwarded(event: Any) -> Any:
    if isinstance(event, dict) and NOT_FORWARDED in event:
        return {k: v for k, v in event.items() if k != NOT_FORWARDED}
    return event


def _merge_batch_level(event: Any, shared: dict[str, Any]) -> Any:
    """Batch-level context and integrations apply to each event; the event's own keys win."""
    if not isinstance(event, dict) or not shared:
        return event
    merged = dict(event)
    for key, value in shared.items():
        own = merged.get(key)
        merged[key] = {**value, **own} if isinstance(own, dict) else value
    return merged
