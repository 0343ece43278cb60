"""The ingest use case: one HTTP request in, its events published, one answer out."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.envelope import encode
from shared.errors import BadRequest, NotFound
from shared.ingest.body import decompress, parse_json_object
from shared.ingest.events import PATH_TYPES, enrich, iso, validate
from shared.ingest.sources import SourceRegistry
from shared.ports.clock import Clock
from shared.ports.publisher import OutboundMessage, Publisher
from shared.settings import Settings, Source
from shared.tiering.router import TierRouter
from shared.topology import COLD_EVENTS, EVENTS, FAILED_EVENTS

BATCH_PATHS = ("batch", "b", "import")
EVENT_TOO_LARGE = "Event is larger than {limit} bytes."
NOT_A_LIST = "batch must be a JSON array of events."
UNKNOWN_PATH = "No such endpoint: {path}."


@dataclass(frozen=True)
class IngestRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class IngestResult:
    accepted: int = 0
    failed: int = 0
    published: list[str] = field(default_factory=list)


def _basic_username(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def _call_of(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if path.rstrip("/").rsplit("/", 2)[-2:-1] != ["v1"] or (
        name not in PATH_TYPES and name not in BATCH_PATHS
    ):
        raise NotFound(UNKNOWN_PATH.format(path=path))
    return name


class IngestHandler:
    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        clock: Clock,
        tiers: TierRouter | None = None,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._clock = clock
        self._tiers = tiers
        self._sources = SourceRegistry(settings.sources)

    def handle(self, request: IngestRequest) -> IngestResult:
        call = _call_of(request.path)
        raw = decompress(
            request.body,
            request.headers.get("content-encoding", ""),
            self._settings.max_batch_bytes,
        )
        body = parse_json_object(raw, request.headers.get("content-type", ""))
        key = _basic_username(request.headers) or body.get("writeKey")
        source = self._sources.resolve(key if isinstance(key, str) else None)
        received_at = self._clock.now()
        events = self._events_of(call, body)
        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for event in events:
            reason = self._problem(event)
            if reason:
                bad.append(self._failure(event, reason, source, iso(received_at)))
            else:
                good.append(enrich(event, source, received_at, body.get("sentAt")))
        messages: list[OutboundMessage] = []
        engaged, cold = good, []
        if good and self._tiers is not None:  # tiering: engaged → events, cold → cold-events
            split = self._tiers.split(good, source)
            engaged, cold = split.engaged, split.cold
        if engaged:
            messages.append(encode(EVENTS, "events", engaged, source_id=source.id))
        if cold:
            messages.append(encode(COLD_EVENTS, "cold", cold, source_id=source.id))
        if bad:
            messages.append(encode(FAILED_EVENTS, "failed", bad, source_id=source.id))
        return IngestResult(len(good), len(bad), self._publisher.publish(messages))

    def _events_of(self, call: str, body: dict[str, Any]) -> list[Any]:
        if call not in BATCH_PATHS:
            return [{**body, "type": PATH_TYPES[call]}]
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise BadRequest(NOT_A_LIST)
        shared = {k: body[k] for k in ("context", "integrations") if isinstance(body.get(k), dict)}
        return [_merge_batch_level(event, shared) for event in batch]

    def _problem(self, event: Any) -> str | None:
        size = len(json.dumps(event, separators=(",", ":"), default=str).encode("utf-8"))
        if size > self._settings.max_event_bytes:
            return EVENT_TOO_LARGE.format(limit=self._settings.max_event_bytes)
        return validate(event)

    @staticmethod
    def _failure(event: Any, reason: str, source: Source, received_at: str) -> dict[str, Any]:
        return {
            "failedId": str(uuid.uuid4()),
            "stage": "ingest",
            "reason": reason,
            "sourceId": source.id,
            "receivedAt": received_at,
            "messageId": event.get("messageId") if isinstance(event, dict) else None,
            "payload": json.dumps(event, default=str),
        }


def _merge_batch_level(event: Any, shared: dict[str, Any]) -> Any:
    """Batch-level context and integrations apply to each event; the event's own keys win."""
    if not isinstance(event, dict) or not shared:
        return event
    merged = dict(event)
    for key, value in shared.items():
        own = merged.get(key)
        merged[key] = {**value, **own} if isinstance(own, dict) else value
    return merged
