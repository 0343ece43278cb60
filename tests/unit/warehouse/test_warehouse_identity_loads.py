"""Identity changes through the loader function (functions-framework test client, fakes):
assignments stored once, undecodable changes kept as failed events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import functions_framework

from shared.bootstrap import Services
from shared.identity.changes import Assignment, IdentityChange, encode_changes
from shared.ports.publisher import InMemoryPublisher, OutboundMessage
from shared.ports.warehouse import InMemoryWarehouse
from shared.topology import FAILED_EVENTS, TOPOLOGY

REPO = Path(__file__).resolve().parents[3]
MERGE = IdentityChange(
    change_id="merge-1",
    change="merged",
    at="2026-11-20T10:00:00Z",
    assignments=(Assignment("anonymous_id", "a2", "p1"), Assignment("user_id", "u2", "p1")),
    profile_id="p1",
    absorbed_profile_id="p2",
)


def loader() -> Any:
    function = TOPOLOGY.function("warehouse-loader")
    source = str(REPO / "functions" / function.folder / "main.py")
    return functions_framework.create_app(function.entry_point, source, "cloudevent").test_client()


def push(message: OutboundMessage) -> dict[str, Any]:
    data = base64.b64encode(message.data).decode()
    return {
        "subscription": "projects/p/subscriptions/warehouse-identity-changes",
        "message": {
            "data": data,
            "attributes": message.attributes,
            "messageId": "7",
            "publishTime": "2026-11-20T10:00:00Z",
        },
    }


def test_identity_changes_become_assignments_once(services: Services) -> None:
    client = loader()
    for _ in range(3):  # redeliveries
        assert client.post("/", json=push(encode_changes([MERGE]))).status_code == 200
    warehouse = services.warehouse
    assert isinstance(warehouse, InMemoryWarehouse)
    rows = warehouse.list_rows("cdp_processed.identity_assignments")
    assert sorted((r["identifier_value"], r["profile_id"], r["change"]) for r in rows) == [
        ("a2", "p1", "merged"),
        ("u2", "p1", "merged"),
    ]
    assert warehouse.insert_calls == 3  # one insert per message, never per assignment


def test_an_undecodable_change_is_kept_and_the_rest_load(services: Services) -> None:
    message = encode_changes([MERGE])
    body = json.loads(message.data)
    body["events"].append({"change_id": "x", "nonsense": True})
    bad = OutboundMessage(message.topic, json.dumps(body).encode(), message.attributes)
    for _ in range(2):  # a redelivery
        assert loader().post("/", json=push(bad)).status_code == 200
    assert len(services.warehouse.list_rows("cdp_processed.identity_assignments")) == 2
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    first, again = (json.loads(m.data)["events"] for m in publisher.on(FAILED_EVENTS))
    [failure] = first
    assert failure["reason"].startswith("invalid identity change")
    assert again[0]["failedId"] == failure["failedId"]  # recorded once in ops.failed_events


def test_an_outage_answers_500_so_pubsub_redelivers(services: Services) -> None:
    assert isinstance(services.warehouse, InMemoryWarehouse)
    services.warehouse.fail_next = 1
    client = loader()
    assert client.post("/", json=push(encode_changes([MERGE]))).status_code == 500
    assert client.post("/", json=push(encode_changes([MERGE]))).status_code == 200
