"""What travels on Pub/Sub: one message per accepted request (and tier), holding its events.

Fewer, larger messages are the main cost lever: every message is a push and an invocation.
Attributes carry what subscriptions may filter on without decoding the body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


def dumps(value: Any) -> bytes:
    """Compact JSON, fast (orjson). What orjson cannot write but JSON can carry (integers past
    64 bits) goes through the stdlib."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")


def encode(topic: str, kind: str, events: Sequence[Event], **attributes: str) -> OutboundMessage:
    attrs = {"kind": kind, "count": str(len(events)), **attributes}
    return OutboundMessage(topic, dumps({"events": list(events)}), attrs)


def decode_push(data: Mapping[str, Any]) -> Envelope:
    """Decode the ``data`` of a Pub/Sub CloudEvent (``{"message": {...}}``)."""
    try:
        message = data["message"]
        raw = base64.b64decode(message.get("data") or "")
        body = orjson.loads(raw) if raw else {}
        attributes = dict(message.get("attributes") or {})
        events = body["events"]
        if not isinstance(events, list):
            raise TypeError("events is not a list")
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as error:
        raise InvalidMessage(f"undecodable Pub/Sub message: {error}") from error
    return Envelope(
        kind=attributes.get("kind", "events"),
        events=events,
        attributes=attributes,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
    )
