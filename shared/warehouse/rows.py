"""Pure row mapping: an accepted event, a failure or an identity change → warehouse rows.

No I/O here; the loader batches what these return. Unknown properties and traits are never a
problem: they travel inside the JSON columns.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from shared.identity.changes import IdentityChange
from shared.ports.warehouse import Row
from shared.warehouse.layers import TABLE_OF_TYPE

Event = dict[str, Any]


def event_row(event: Event, loaded_at: str) -> Row:
    """The raw layer: the whole event as JSON, plus what queries filter and cluster on."""
    return {
        "message_id": _str_or_none(event.get("messageId")),
        "type": event.get("type"),
        "event": event.get("event") if isinstance(event.get("event"), str) else None,
        "user_id": _str_or_none(event.get("userId")),
        "anonymous_id": _str_or_none(event.get("anonymousId")),
        "source_id": event.get("sourceId"),
        "timestamp": event.get("timestamp"),
        "received_at": event.get("receivedAt") or loaded_at,
        "loaded_at": loaded_at,
        "payload": to_json(event),
    }


def processed_row(event: Event, loaded_at: str) -> tuple[str, Row] | None:
    """(processed table, row) for a Segment call; None for a type with no table."""
    table = TABLE_OF_TYPE.get(str(event.get("type")))
    if table is None:
        return None
    received_at = event.get("receivedAt") or loaded_at
    row: Row = {
        "message_id": _str_or_none(event.get("messageId")),
        "user_id": _str_or_none(event.get("userId")),
        "anonymous_id": _str_or_none(event.get("anonymousId")),
        "source_id": event.get("sourceId"),
        "timestamp": event.get("timestamp") or received_at,
        "original_timestamp": event.get("originalTimestamp"),
        "sent_at": event.get("sentAt"),
        "received_at": received_at,
        "loaded_at": loaded_at,
        "context": to_json(event.get("context") or {}),
    }
    row.update(_EXTRA[table](event))
    return table, row


def _track(event: Event) -> Row:
    name = event.get("event")
    return {"event": name if isinstance(name, str) else None, "properties": _properties(event)}


def _page(event: Event) -> Row:
    props = event.get("properties")
    props = props if isinstance(props, dict) else {}
    standard = {
        k: _str_or_none(props.get(k)) for k in ("path", "url", "referrer", "title", "search")
    }
    return {**_named(event), **standard}


def _named(event: Event) -> Row:
    return {
        "name": _str_or_none(event.get("name")),
        "category": _str_or_none(event.get("category")),
        "properties": _properties(event),
    }


def _identify(event: Event) -> Row:
    return {"traits": to_json(event.get("traits") or {})}


def _group(event: Event) -> Row:
    return {"group_id": _str_or_none(event.get("groupId")), **_identify(event)}


def _alias(event: Event) -> Row:
    return {"previous_id": _str_or_none(event.get("previousId"))}


_EXTRA: dict[str, Callable[[Event], Row]] = {
    "tracks": _track,
    "identifies": _identify,
    "pages": _page,
    "screens": _named,
    "groups": _group,
    "aliases": _alias,
}


def failed_row(failure: dict[str, Any], recorded_at: str) -> Row:
    return {
        "failed_id": str(failure.get("failedId") or uuid.uuid4()),
        "stage": str(failure.get("stage") or "unknown"),
        "reason": str(failure.get("reason") or "unknown"),
        "source_id": failure.get("sourceId"),
        "message_id": _str_or_none(failure.get("messageId")),
        "received_at": failure.get("receivedAt"),
        "recorded_at": recorded_at,
        "payload": failure.get("payload"),
        "findings": to_json(failure["findings"]) if failure.get("findings") else None,
    }


def violation_rows(
    message_id: str,
    source_id: str | None,
    received_at: str,
    findings: list[Any],
    plan_version: Any,
    mode: str,
    recorded_at: str,
) -> list[Row]:
    """One row per finding of one event: ``findings`` as messages carry them (``[kind, event,
    property]``) or as failed events do (``{"kind", "event", "property", ...}``)."""
    rows: list[Row] = []
    for found in findings:
        if isinstance(found, dict):
            kind, name, prop = found.get("kind"), found.get("event"), found.get("property")
            row_mode = str(found.get("mode") or mode)
        elif isinstance(found, list | tuple) and len(found) >= 3:
            kind, name, prop = found[0], found[1], found[2]
            row_mode = mode
        else:
            continue
        rows.append(
            {
                # messageIds are unique per source: the source is part of the row's key
                "violation_id": f"{source_id}:{message_id}:{kind}:{name}:{prop or ''}",
                "message_id": message_id,
                "source_id": source_id,
                "event": _str_or_none(name),
                "kind": str(kind),
                "property": _str_or_none(prop) or None,
                "plan_version": plan_version if isinstance(plan_version, int) else None,
                "mode": row_mode,
                "received_at": received_at,
                "recorded_at": recorded_at,
            }
        )
    return rows


def assignment_rows(change: IdentityChange, recorded_at: str) -> list[Row]:
    """One row per assignment; ``assignment_id`` is deterministic, so redeliveries dedup."""
    return [
        {
            "assignment_id": f"{change.change_id}:{a.type}:{a.value}",
            "change_id": change.change_id,
            "change": change.change,
            "identifier_type": a.type,
            "identifier_value": a.value,
            "profile_id": a.profile_id,
            "valid_from": change.at,
            "absorbed_profile_id": change.absorbed_profile_id,
            "message_id": change.message_id,
            "source_id": change.source_id,
            "reason": change.reason or None,
            "recorded_at": recorded_at,
            "decided_at": change.decided_at,
        }
        for a in change.assignments
    ]


def _properties(event: Event) -> str:
    return to_json(event.get("properties") or {})


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
