"""The warehouse loader: one Pub/Sub message (a batch) → one streaming insert per table.

Idempotent: each row's insertId is its event's messageId (failedId for failures), and the
scheduled dedup job removes what a late redelivery slips past that window. Rows BigQuery refuses
become failed events, never silently dropped.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.envelope import Envelope, encode
from shared.errors import BackendUnavailable
from shared.ports.clock import Clock
from shared.ports.publisher import Publisher
from shared.ports.warehouse import Row, Warehouse
from shared.settings import Settings
from shared.topology import FAILED_EVENTS
from shared.warehouse.tables import (
    COLD_ARCHIVE_TABLE,
    EVENTS_TABLE,
    FAILED_EVENTS_TABLE,
    OPS,
    RAW,
)


def event_row(event: dict[str, Any], loaded_at: str) -> Row:
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
        "payload": json.dumps(event, separators=(",", ":"), default=str),
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
    }


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class WarehouseLoader:
    def __init__(
        self, settings: Settings, warehouse: Warehouse, publisher: Publisher, clock: Clock
    ) -> None:
        self._settings = settings
        self._warehouse = warehouse
        self._publisher = publisher
        self._clock = clock

    def handle(self, envelope: Envelope) -> int:
        """Load the envelope; returns rows stored. Outages raise (BackendUnavailable)."""
        now = self._clock.now().isoformat()
        if envelope.kind == "failed":
            rows = [failed_row(f, now) for f in envelope.events]
            table = f"{self._settings.dataset(OPS)}.{FAILED_EVENTS_TABLE}"
            errors = self._warehouse.insert_rows(table, rows, [r["failed_id"] for r in rows])
            if errors:  # nowhere further to send them: fail loudly, Pub/Sub dead-letters
                raise BackendUnavailable(f"failed_events refused rows: {errors[:3]}")
            return len(rows)
        name = COLD_ARCHIVE_TABLE if envelope.kind == "cold" else EVENTS_TABLE
        table = f"{self._settings.dataset(RAW)}.{name}"
        rows = [event_row(e, now) for e in envelope.events]
        errors = self._warehouse.insert_rows(table, rows, [r["message_id"] or "" for r in rows])
        if errors:
            refused = [
                {
                    "failedId": f"warehouse:{rows[e.index]['message_id']}",
                    "stage": "warehouse",
                    "reason": e.reason,
                    "sourceId": rows[e.index]["source_id"],
                    "messageId": rows[e.index]["message_id"],
                    "receivedAt": rows[e.index]["received_at"],
                    "payload": rows[e.index]["payload"],
                }
                for e in errors
            ]
            self._publisher.publish([encode(FAILED_EVENTS, "failed", refused)])
        return len(rows) - len(errors)
