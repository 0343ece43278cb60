"""The warehouse loader on fakes: one insert per table per message, idempotent, nothing refused
is lost, outages raise."""

from __future__ import annotations

import json

import pytest

from shared.envelope import Envelope
from shared.errors import BackendUnavailable
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse
from shared.topology import FAILED_EVENTS
from tests.fakes import fake_services

EVENTS = [
    {
        "type": "track",
        "event": "account_created",
        "userId": "u1",
        "messageId": f"m{i}",
        "sourceId": "web",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "receivedAt": "2026-01-01T00:00:01.000Z",
        "properties": {"new_property": i},
    }
    for i in range(3)
]


def test_a_batch_is_one_insert_per_table_and_a_redelivery_adds_nothing() -> None:
    services = fake_services()
    warehouse = services.warehouse
    assert isinstance(warehouse, InMemoryWarehouse)
    for _ in range(3):
        assert services.loader.handle(Envelope("events", EVENTS, {})) == 3
    for table in ("cdp_raw.events", "cdp_processed.tracks"):
        rows = warehouse.list_rows(table)
        assert sorted(r["message_id"] for r in rows) == ["m0", "m1", "m2"]
    assert warehouse.insert_calls == 3 * 2  # raw + tracks, per delivery
    [first] = [r for r in warehouse.list_rows("cdp_raw.events") if r["message_id"] == "m0"]
    assert json.loads(first["payload"])["properties"] == {"new_property": 0}


def test_cold_events_go_to_the_cold_archive_only() -> None:
    services = fake_services()
    services.loader.handle(Envelope("cold", EVENTS[:1], {}))
    assert len(services.warehouse.list_rows("cdp_raw.cold_archive")) == 1
    assert services.warehouse.list_rows("cdp_raw.events") == []
    assert services.warehouse.list_rows("cdp_processed.tracks") == []


def test_rows_bigquery_refuses_become_failed_events_naming_the_table() -> None:
    services = fake_services()
    bad = {**EVENTS[0], "messageId": None}  # REQUIRED message_id missing → refused
    stored = services.loader.handle(Envelope("events", [EVENTS[1], bad], {}))
    assert stored == 1
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [message] = publisher.on(FAILED_EVENTS)  # one publish for the whole batch
    failures = json.loads(message.data)["events"]
    assert [f["stage"] for f in failures] == ["warehouse", "warehouse"]
    assert [f["reason"].split(":")[0] for f in failures] == [
        "cdp_raw.events",
        "cdp_processed.tracks",
    ]
    assert all("message_id" in f["reason"] for f in failures)
    assert json.loads(failures[0]["payload"])["event"] == "account_created"


def test_an_outage_raises_so_pubsub_redelivers() -> None:
    services = fake_services()
    assert isinstance(services.warehouse, InMemoryWarehouse)
    services.warehouse.fail_next = 1
    with pytest.raises(BackendUnavailable):
        services.loader.handle(Envelope("events", EVENTS, {}))


def test_failed_events_are_stored_with_their_reason() -> None:
    services = fake_services()
    failure = {"failedId": "f1", "stage": "ingest", "reason": "no id", "payload": "{}"}
    services.loader.handle(Envelope("failed", [failure, failure], {}))
    [row] = services.warehouse.list_rows("cdp_ops.failed_events")
    assert (row["failed_id"], row["reason"]) == ("f1", "no id")
