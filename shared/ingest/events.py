"""Pure rules on one event: validation and enrichment. No I/O, table-tested."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.settings import Source

Event = dict[str, Any]

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
PATH_TYPES = {
    "track": "track",
    "t": "track",
    "identify": "identify",
    "i": "identify",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "group": "group",
    "g": "group",
    "alias": "alias",
    "a": "alias",
}

NO_IDENTITY = "Event has neither userId nor anonymousId."
UNKNOWN_TYPE = (
    "Unknown event type {type!r}: expected one of track, identify, page, screen, group, alias."
)
NOT_OBJECT = "Event is not a JSON object."
TRACK_NEEDS_EVENT = "A track call needs a non-empty string 'event'."
BAD_ID = "{field} must be a string or a number."


def _has_id(value: Any) -> bool:
    return value is not None and value != ""


def _check_object(event: Any) -> str | None:
    return None if isinstance(event, dict) else NOT_OBJECT


def _check_type(event: Event) -> str | None:
    kind = event.get("type")
    return None if kind in CALL_TYPES else UNKNOWN_TYPE.format(type=kind)


def _check_ids_are_scalars(event: Event) -> str | None:
    for field in ("userId", "anonymousId"):
        value = event.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            return BAD_ID.format(field=field)
    return None


def _check_identity(event: Event) -> str | None:
    return (
        None if _has_id(event.get("userId")) or _has_id(event.get("anonymousId")) else NO_IDENTITY
    )


def _check_track_event(event: Event) -> str | None:
    if event.get("type") != "track":
        return None
    name = event.get("event")
    return None if isinstance(name, str) and name.strip() else TRACK_NEEDS_EVENT


RULES: tuple[Callable[[Event], str | None], ...] = (
    _check_type,
    _check_ids_are_scalars,
    _check_identity,
    _check_track_event,
)


def validate(event: Any) -> str | None:
    """The first reason the event is invalid, or None."""
    problem = _check_object(event)
    if problem:
        return problem
    for rule in RULES:
        problem = rule(event)
        if problem:
            return problem
    return None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enrich(event: Event, source: Source, received_at: datetime, sent_at: Any) -> Event:
    """Stamp receivedAt and the source, assign a messageId, correct device clock skew.

    timestamp = receivedAt - (sentAt - originalTimestamp), when the device sent both.
    """
    out = dict(event)
    for field in ("userId", "anonymousId"):
        if isinstance(out.get(field), int | float):
            out[field] = str(out[field])
    out.setdefault("messageId", None)
    if not out["messageId"]:
        out["messageId"] = f"cdp-{uuid.uuid4()}"
    out["receivedAt"] = iso(received_at)
    original = parse_time(out.get("timestamp")) or parse_time(out.get("originalTimestamp"))
    sent = parse_time(out.get("sentAt")) or parse_time(sent_at)
    if original and sent:
        out["originalTimestamp"] = iso(original)
        out["timestamp"] = iso(received_at - (sent - original))
    elif original:
        out["timestamp"] = iso(original)
    else:
        out["timestamp"] = iso(received_at)
    out["sourceId"] = source.id
    out["sourceName"] = source.name
    return out
