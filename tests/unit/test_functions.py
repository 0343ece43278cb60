"""The Pub/Sub-fed functions through functions-framework's test client, on fakes: decoding,
ack on success, 500 (so Pub/Sub redelivers) on a transient failure, ack plus a recorded failed
event on a message that can never succeed."""

from __future__ import annotations

import json

from shared.bootstrap import Services
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse
from shared.topology import FAILED_EVENTS
from tests.fakes import client, push_body

EVENT = {
    "type": "identify",
    "userId": "u1",
    "anonymousId": "a1",
    "messageId": "m1",
    "traits": {"plan": "pro"},
    "timestamp": "2026-01-01T00:00:00.000Z",
    "receivedAt": "2026-01-01T00:00:00.000Z",
}


def test_identity_function_updates_the_profile_and_acks(services: Services) -> None:
    answer = client("identity").post("/", json=push_body([EVENT]))
    assert answer.status_code == 200
    store = services.documents
    assert isinstance(store, InMemoryDocumentStore)
    [(_, profile)] = store.list("profiles")
    assert profile["traits"]["plan"]["value"] == "pro"


def test_loader_function_loads_rows_and_acks(services: Services) -> None:
    answer = client("warehouse-loader").post("/", json=push_body([EVENT]))
    assert answer.status_code == 200
    assert [r["message_id"] for r in services.warehouse.list_rows("cdp_raw.events")] == ["m1"]


def test_a_transient_failure_answers_500_so_pubsub_redelivers(services: Services) -> None:
    assert isinstance(services.warehouse, InMemoryWarehouse)
    services.warehouse.fail_next = 1
    loader = client("warehouse-loader")
    assert loader.post("/", json=push_body([EVENT])).status_code == 500
    assert loader.post("/", json=push_body([EVENT])).status_code == 200  # the redelivery
    assert len(services.warehouse.list_rows("cdp_raw.events")) == 1


def test_an_undecodable_message_is_recorded_and_acknowledged(services: Services) -> None:
    answer = client("identity").post("/", json=push_body(None, raw=b"not json"))
    assert answer.status_code == 200
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [message] = publisher.on(FAILED_EVENTS)
    [failure] = json.loads(message.data)["events"]
    assert failure["stage"] == "identity" and "undecodable" in failure["reason"]


def test_jobs_function_names_unknown_jobs(services: Services) -> None:
    jobs = client("jobs")
    answer = jobs.post("/", json={"job": "nope"})
    assert answer.status_code == 404 and "warehouse-dedup" in answer.get_json()["message"]
    assert jobs.post("/", data="x").status_code == 400
