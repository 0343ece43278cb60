"""What ingest keeps of an event it does not publish: a failed-event record, with the reason.

Refused by ingest's own checks (kept as sent, scrubbed of PII, reason included), or blocked by
governance (kept as accepted, with every finding named, so a replay re-enters it unchanged).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.envelope import dumps
from shared.governance.gate import Found
from shared.ingest.rules import check
from shared.ingest.spec import Call
from shared.settings import Source

Event = dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A payload a source mapping could not turn into an event, with the reason."""

    reason: str
    payload: Any


def check_mapped(event: Any) -> Call | str:
    """A mapped webhook payload is checked as an event; one that could not be mapped says why."""
    return event.reason if isinstance(event, Rejected) else check(event)


def payload_of(event: Any) -> Any:
    return event.payload if isinstance(event, Rejected) else event


def failure(
    event: Any,
    reason: str,
    source: Source,
    received_at: str,
    scrub: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    payload = payload_of(event)
    if scrub is not None:  # a reason may quote a value (an unknown type, say)
        payload, reason = scrub(payload), str(scrub(reason))
    return {
        "failedId": str(uuid.uuid4()),
        "stage": "ingest",
        "reason": reason,
        "sourceId": source.id,
        "receivedAt": received_at,
        "messageId": payload.get("messageId") if isinstance(payload, dict) else None,
        "payload": json.dumps(payload, default=str),
    }


def blocked(
    event: Event, found: tuple[Found, ...], source: Source, plan_version: int
) -> dict[str, Any]:
    """A failed event blocked by governance: the event as accepted (PII already handled), so a
    replay after a plan fix re-enters it unchanged, and every finding named."""
    named = "; ".join(f"{f.kind} {f.event}{'.' + f.property if f.property else ''}" for f in found)
    return {
        "failedId": str(uuid.uuid4()),
        "stage": "ingest",
        "reason": f"blocked by governance: {named}",
        "sourceId": source.id,
        "receivedAt": event.get("receivedAt"),
        "messageId": event.get("messageId"),
        "payload": dumps(event).decode(),
        "findings": [f.as_dict() for f in found],
        "planVersion": plan_version,
    }
