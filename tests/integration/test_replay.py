"""Blocked events replayed after the plan changes, on the emulators (BigQuery for the
failed-events store and the raw events, Firestore for the ledger): each lands once in
``cdp_raw.events`` with its original messageId, receivedAt and timestamp; a second replay adds
nothing.

Only the tables the loader writes here are made (each costs the emulator a slow DDL): the raw
events, the tracks, the failed events and the violations the flagged replay records."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.envelope import Envelope, decode_push
from shared.governance.checks import Finding
from shared.governance.gate import Gate
from shared.governance.replay import Replay, ReplayLedger, ReplaySettings
from shared.ingest.handler import IngestHandler, IngestRequest
from shared.ingest.sources import hash_key
from shared.ports.clock import SystemClock
from shared.ports.publisher import InMemoryPublisher
from shared.settings import Settings, Source
from shared.topology import EVENTS, FAILED_EVENTS
from shared.warehouse.layers import (
    EVENTS_TABLE,
    FAILED_EVENTS_TABLE,
    OPS,
    PROCESSED,
    RAW,
    VIOLATION_EVENTS_TABLE,
)
from shared.warehouse.loader import WarehouseLoader
from tests.conftest import PROJECT
from tests.integration.test_warehouse_loader import needed

pytestmark = pytest.mark.integration

KEY = "replay-web-key"
USED = (
    f"{RAW}.{EVENTS_TABLE}",
    f"{PROCESSED}.tracks",
    f"{OPS}.{FAILED_EVENTS_TABLE}",
    f"{OPS}.{VIOLATION_EVENTS_TABLE}",
)


@dataclass(frozen=True)
class _Plan:
    """The test's plan: ``transfer_sent`` needs ``currency``; ``block`` says whether that
    blocks the web source (version 1) or is only flagged (version 2, the fix)."""

    block: bool

    @property
    def version(self) -> int:
        return 1 if self.block else 2

    def modes_for(self, source_id: str) -> Mapping[str, str]:
        return {"missing_property": "block" if self.block else "flag"}


def _needs_currency(plan: Any, event: Mapping[str, Any], source_kind: str) -> list[Finding]:
    if event.get("event") == "transfer_sent" and "currency" not in event.get("properties", {}):
        return [Finding("missing_property", "transfer_sent", "currency", "required")]
    return []


def _handler(settings: Settings, publisher: InMemoryPublisher, block: bool) -> IngestHandler:
    gate = Gate(plan=_Plan(block), check=_needs_currency)
    return IngestHandler(settings, publisher, SystemClock(), gate=gate)


def _load(loader: WarehouseLoader, publisher: InMemoryPublisher, topic: str, kind: str) -> None:
    """What the warehouse subscription would do with each message published on ``topic``."""
    for message in publisher.on(topic):
        data = base64.b64encode(message.data).decode()
        loaded = decode_push({"message": {"data": data, "attributes": message.attributes}})
        loader.handle(Envelope(kind, loaded.events, message.attributes, meta=loaded.meta))
    publisher.messages.clear()


def test_a_blocked_event_replayed_after_the_plan_fix_lands_once_with_its_times(
    bigquery: BigQueryWarehouse, unique: str
) -> None:
    source = Source(id="web", name="Web", kind="web", write_key_sha256=hash_key(KEY))
    settings = Settings(
        project_id=PROJECT, dataset_prefix=f"it_{unique}", bigquery_endpoint="-", sources=[source]
    )
    bigquery.ensure(needed(settings, *USED))  # its own: it counts every failed event
    publisher = InMemoryPublisher()
    loader = WarehouseLoader(settings, bigquery, publisher, SystemClock())
    sent = [
        {
            "type": "track",
            "event": "transfer_sent",
            "userId": f"{unique}-u",
            "messageId": f"{unique}-m{n}",
            "timestamp": (datetime.now(UTC) - timedelta(hours=3, minutes=n)).isoformat(),
            "properties": {"amount": 25 + n},
        }
        for n in (1, 2)
    ]
    body = json.dumps({"writeKey": KEY, "batch": sent}).encode()
    blocked = _handler(settings, publisher, block=True).handle(
        IngestRequest("/v1/batch", {"content-type": "application/json"}, body)
    )
    assert (blocked.accepted, blocked.failed) == (0, 2)
    failures = json.loads(publisher.on(FAILED_EVENTS)[0].data)["events"]
    accepted = {f["messageId"]: json.loads(f["payload"]) for f in failures}  # as ingest enriched
    assert all(e["timestamp"] != e["receivedAt"] for e in accepted.values())  # re-dating shows
    _load(loader, publisher, FAILED_EVENTS, "failed")

    ledger = ReplayLedger(FirestoreDocumentStore(PROJECT), SystemClock())
    fixed = _handler(settings, publisher, block=False)  # the plan changed: only flagged now
    one_a_page = ReplaySettings(page_size=1)  # the keyset's next page, on BigQuery's SQL

    def replay() -> dict[str, Any]:
        run = Replay(settings, bigquery, ledger, fixed, SystemClock(), one_a_page)
        report = run.run(reason="missing_property")
        _load(loader, publisher, EVENTS, "events")
        return report.to_json()

    first = replay()
    assert (first["selected"], first["replayed"], first["blocked_again"]) == (2, 2, 0)
    second = replay()
    assert (second["selected"], second["replayed"], second["already_replayed"]) == (2, 0, 2)

    rows = bigquery.query(
        "SELECT message_id, source_id, received_at, timestamp, TO_JSON_STRING(payload) AS body "
        f"FROM `{settings.table(RAW, EVENTS_TABLE)}` ORDER BY message_id"
    )
    assert [r["message_id"] for r in rows] == sorted(accepted)  # each once
    for row in rows:
        original, landed = accepted[row["message_id"]], json.loads(row["body"])
        assert row["source_id"] == "web"
        for key in ("messageId", "receivedAt", "timestamp", "originalTimestamp"):
            assert landed[key] == original[key]
        assert row["received_at"] == datetime.fromisoformat(original["receivedAt"])
        assert row["timestamp"] == datetime.fromisoformat(original["timestamp"])
    [stored] = bigquery.query(
        f"SELECT COUNT(*) AS n FROM `{settings.table(OPS, FAILED_EVENTS_TABLE)}`"
    )
    assert stored["n"] == 2  # nothing blocked again
