"""The warehouse loader: one Pub/Sub message (a batch) → one streaming insert per table.

Engaged events land twice: as received in the raw layer, and in their Segment-style processed
table. Identity changes land as assignments (the identity map's rows); failures in ``ops``.
Tracking-plan findings (in an events message's metadata, or on a blocked failed event) land as
violation rows beside them.
Idempotent: each row's insertId is its key (messageId, assignment id, failedId), and the
scheduled dedup job removes what a late redelivery slips past that window. Rows BigQuery refuses
become failed events with the reason, never silently dropped; an outage raises
(BackendUnavailable) so Pub/Sub redelivers, then dead-letters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from shared.envelope import Envelope, encode
from shared.errors import BackendUnavailable
from shared.identity.changes import KIND as IDENTITY_KIND
from shared.identity.changes import IdentityChange
from shared.ports.clock import Clock
from shared.ports.publisher import Publisher
from shared.ports.warehouse import Row, Warehouse
from shared.settings import Settings
from shared.topology import FAILED_EVENTS
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    EVENTS_TABLE,
    FAILED_EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    OPS,
    PROCESSED,
    RAW,
    VIOLATION_EVENTS_TABLE,
)
from shared.warehouse.rows import (
    assignment_rows,
    event_row,
    failed_row,
    processed_row,
    to_json,
    violation_rows,
)

STAGE = "warehouse"
INVALID_CHANGE = "invalid identity change: {error}"

# Which column is each table's row key (its insertId, and what the dedup job groups by).
ROW_KEY = {
    FAILED_EVENTS_TABLE: "failed_id",
    IDENTITY_ASSIGNMENTS_TABLE: "assignment_id",
    VIOLATION_EVENTS_TABLE: "violation_id",
}


def row_key(table: str, row: Row) -> str:
    return str(row.get(ROW_KEY.get(table.rsplit(".", 1)[-1], "message_id")) or "")


def refusal(table: str, row: Row, reason: str) -> dict[str, Any]:
    """A failed event for a row BigQuery refused (the reason names the table)."""
    return {
        "failedId": f"{STAGE}:{table}:{row_key(table, row)}",
        "stage": STAGE,
        "reason": f"{table}: {reason}",
        "sourceId": row.get("source_id"),
        "messageId": row.get("message_id"),
        "receivedAt": row.get("received_at"),
        "payload": row.get("payload") or to_json(row),
    }


def _flagged_violations(envelope: Envelope, now: str) -> list[Row]:
    """Rows for the flagged findings an events message carries in its metadata."""
    found = envelope.meta.get("findings")
    if not isinstance(found, dict) or not found:
        return []
    version = envelope.meta.get("plan_version")
    rows: list[Row] = []
    for event in envelope.events:
        mid = str(event.get("messageId"))
        if isinstance(found.get(mid), list):
            received = str(event.get("receivedAt") or now)
            source = event.get("sourceId") or envelope.attributes.get("source_id")
            rows += violation_rows(mid, source, received, found[mid], version, "flag", now)
    return rows


def _blocked_violations(failures: Sequence[Any], now: str) -> list[Row]:
    """Rows for the findings of events governance blocked (kept in failed_events)."""
    rows: list[Row] = []
    for failure in failures:
        if isinstance(failure, dict) and isinstance(failure.get("findings"), list):
            mid = str(failure.get("messageId") or failure.get("failedId"))
            received = str(failure.get("receivedAt") or now)
            version = failure.get("planVersion")
            rows += violation_rows(
                mid, failure.get("sourceId"), received, failure["findings"], version, "block", now
            )
    return rows


def _digest(payload: Any) -> str:
    """A stable id for an undecodable change, so its redelivery is recorded once."""
    return hashlib.sha256(to_json(payload).encode()).hexdigest()[:32]


class WarehouseLoader:
    def __init__(
        self, settings: Settings, warehouse: Warehouse, publisher: Publisher, clock: Clock
    ) -> None:
        self._settings = settings
        self._warehouse = warehouse
        self._publisher = publisher
        self._clock = clock

    def handle(self, envelope: Envelope) -> int:
        """Load the envelope; returns rows stored in its first table (raw events, failures or
        assignments). Outages raise (BackendUnavailable)."""
        now = self._clock.now().isoformat()
        if envelope.kind == "failed":
            kept = self._load_failures([failed_row(f, now) for f in envelope.events])
            self._load_violations(_blocked_violations(envelope.events, now))
            return kept
        if envelope.kind == IDENTITY_KIND:
            return self._load_identity(envelope.events, now)
        raw = COLD_ARCHIVE_TABLE if envelope.kind == "cold" else EVENTS_TABLE
        batches: dict[str, list[Row]] = {
            self._table(RAW, raw): [event_row(e, now) for e in envelope.events]
        }
        if envelope.kind != "cold":  # processed tables hold the engaged tier only
            for event in envelope.events:
                mapped = processed_row(event, now)
                if mapped:
                    batches.setdefault(self._table(PROCESSED, mapped[0]), []).append(mapped[1])
        refused: list[dict[str, Any]] = []
        stored = {table: self._insert(table, rows, refused) for table, rows in batches.items()}
        self._publish_refusals(refused)
        self._load_violations(_flagged_violations(envelope, now))
        return next(iter(stored.values()))

    def _load_violations(self, rows: list[Row]) -> None:
        if not rows:
            return
        table = self._table(OPS, VIOLATION_EVENTS_TABLE)
        errors = self._warehouse.insert_rows(table, rows, [r["violation_id"] for r in rows])
        if errors:  # derived rows: redelivering the message redoes them (insertIds dedup)
            raise BackendUnavailable(f"violation_events refused rows: {errors[:3]}")

    def _load_identity(self, payloads: Sequence[Any], now: str) -> int:
        refused: list[dict[str, Any]] = []
        rows: list[Row] = []
        for payload in payloads:
            try:
                rows += assignment_rows(IdentityChange.from_json(payload), now)
            except (TypeError, ValueError, AttributeError) as error:
                refused.append(
                    {
                        "failedId": f"{STAGE}:identity:{_digest(payload)}",
                        "stage": STAGE,
                        "reason": INVALID_CHANGE.format(error=error),
                        "payload": to_json(payload),
                    }
                )
        stored = self._insert(self._table(PROCESSED, IDENTITY_ASSIGNMENTS_TABLE), rows, refused)
        self._publish_refusals(refused)
        return stored

    def _load_failures(self, rows: list[Row]) -> int:
        table = self._table(OPS, FAILED_EVENTS_TABLE)
        errors = self._warehouse.insert_rows(table, rows, [r["failed_id"] for r in rows])
        if errors:  # nowhere further to send them: fail loudly, Pub/Sub dead-letters
            raise BackendUnavailable(f"failed_events refused rows: {errors[:3]}")
        return len(rows)

    def _insert(self, table: str, rows: list[Row], refused: list[dict[str, Any]]) -> int:
        errors = self._warehouse.insert_rows(table, rows, [row_key(table, r) for r in rows])
        refused += [refusal(table, rows[e.index], e.reason) for e in errors]
        return len(rows) - len(errors)

    def _publish_refusals(self, refused: list[dict[str, Any]]) -> None:
        if refused:
            self._publisher.publish([encode(FAILED_EVENTS, "failed", refused)])

    def _table(self, layer: str, name: str) -> str:
        return f"{self._settings.dataset(layer)}.{name}"
