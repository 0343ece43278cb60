"""What travels on Pub/Sub: one message per accepted request (and tier), holding its events.

Fewer, larger messages are the main cost lever: every message is a push and an invocation.
Attributes carry what subscriptions may filter on without decoding the body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.errors import InvalidMessage
from shared.ports.publisher import OutboundMessage

Event = dict[str, Any]


@dataclass(frozen=True)
class Envelope:
    kind: str  # "events" | "failed"
    events: list[Event]
    attributes: dict[str, str]
    message_id: str = ""  # Pub/Sub's id, once delivered
    meta: dict[str, Any] = field(default_factory=dict)  # about the events, of any size


def dumps(value: Any) -> bytes:
    """Compact JSON, fast (orjson). What orjson cannot write but JSON can carry (integers past
    64 bits) goes through the stdlib."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")


def encode(topic: str, kind: str, events: Sequence[Event], **attributes: str) -> OutboundMessage:
    return encode_serialized(topic, kind, [dumps(e) for e in events], None, **attributes)


def encode_serialized(
    topic: str,
    kind: str,
    events: Sequence[bytes],
    meta: Mapping[str, Any] | None = None,
    /,
    **attributes: str,
) -> OutboundMessage:
    """The message for events already written as JSON (each once, by whoever measured it).
    ``meta`` travels in the body: attributes are for short values subscriptions filter on
    (Pub/Sub refuses one over 1024 bytes), ids and consent can be longer."""
    attrs = {"kind": kind, "count": str(len(events)), **attributes}
    head = b'{"meta":' + dumps(dict(meta)) + b',"events":[' if meta else b'{"events":['
    return OutboundMessage(topic, head + b",".join(events) + b"]}", attrs)


def batches(texts: Sequence[bytes], max_count: int, max_bytes: int) -> list[list[bytes]]:
    """Events written as JSON, in order, grouped into batches of at most ``max_count`` events
    and ``max_bytes`` of them joined (an event bigger than that goes alone, never dropped)."""
    groups: list[list[bytes]] = []
    size = 0
    for text in texts:
        if not groups or len(groups[-1]) >= max(1, max_count) or size + len(text) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += len(text) + 1
    return groups


def decode_push(data: Mapping[str, Any]) -> Envelope:
    """Decode the ``data`` of a Pub/Sub CloudEvent (``{"message": {...}}``)."""
    try:
        message = data["message"]
        raw = base64.b64decode(message.get("data") or "")
        body = orjson.loads(raw) if raw else {}
        attributes = dict(message.get("attributes") or {})
        events = body["events"]
        meta = body.get("meta") or {}
        if not isinstance(events, list) or not isinstance(meta, dict):
            raise TypeError("events is not a list, or meta not an object")
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as error:
        raise InvalidMessage(f"undecodable Pub/Sub message: {error}") from error
    return Envelope(
        kind=attributes.get("kind", "events"),
        events=events,
        attributes=attributes,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        meta=meta,
    )
